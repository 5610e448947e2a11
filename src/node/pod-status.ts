import type { RestartPolicy } from './backoff.ts';
import { rfc3339 } from '../api/time.ts';

/**
 * Pure pod status computation from what the agent knows about each container, in the shape and
 * words of the kubelet (phase rules, conditions, containerStatuses with state/lastState).
 */
export interface Terminated {
  exitCode: number;
  signal?: number;
  reason: string;
  message?: string;
  startedAt: string;
  finishedAt: string;
}

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | { terminated: Terminated };

export interface ContainerView {
  name: string;
  image: string;
  restartCount: number;
  state: ContainerState;
  lastTerminated?: Terminated;
  ready: boolean;
}

export interface PodView {
  restartPolicy: RestartPolicy;
  unschedulable?: { reason: string; message: string };
  startTime?: string;
  containers: ContainerView[];
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
  lastProbeTime: null;
  lastTransitionTime: string;
}

export interface PodStatusJson {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  conditions: PodCondition[];
  hostIP: string;
  hostIPs: Array<{ ip: string }>;
  podIP?: string;
  podIPs?: Array<{ ip: string }>;
  startTime?: string;
  qosClass: string;
  containerStatuses: Array<Record<string, unknown>>;
}

export const nowRfc3339 = rfc3339;

export function podPhase(view: PodView): PodStatusJson['phase'] {
  if (view.unschedulable) return 'Pending';
  const cs = view.containers;
  if (cs.some((c) => 'waiting' in c.state && c.restartCount === 0 && !c.lastTerminated)) return 'Pending';
  if (cs.length > 0 && cs.every((c) => 'terminated' in c.state)) {
    return cs.every((c) => 'terminated' in c.state && c.state.terminated.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
  return 'Running';
}

export function computePodStatus(view: PodView, previous: { conditions?: Array<{ type: string; status: string; lastTransitionTime?: unknown }> } | undefined, now = nowRfc3339()): PodStatusJson {
  const phase = podPhase(view);
  const keep = (type: string, status: string): string => {
    const prev = previous?.conditions?.find((c) => c.type === type);
    if (prev && prev.status === status && prev.lastTransitionTime) {
      const t = prev.lastTransitionTime;
      return t instanceof Date ? nowRfc3339(t) : String(t);
    }
    return now;
  };
  const cond = (type: string, ok: boolean, reason?: string, message?: string): PodCondition => ({
    type,
    status: ok ? 'True' : 'False',
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
    lastProbeTime: null,
    lastTransitionTime: keep(type, ok ? 'True' : 'False'),
  });

  const conditions: PodCondition[] = [];
  if (view.unschedulable) {
    conditions.push(cond('PodScheduled', false, view.unschedulable.reason, view.unschedulable.message));
  } else {
    const unready = view.containers.filter((c) => !c.ready).map((c) => c.name);
    const completed = phase === 'Succeeded' || phase === 'Failed';
    const readyReason = completed ? 'PodCompleted' : unready.length ? 'ContainersNotReady' : undefined;
    const readyMessage = !completed && unready.length ? `containers with unready status: [${unready.join(' ')}]` : undefined;
    conditions.push(
      cond('Initialized', true, completed ? 'PodCompleted' : undefined),
      cond('Ready', unready.length === 0 && !completed, readyReason, readyMessage),
      cond('ContainersReady', unready.length === 0 && !completed, readyReason, readyMessage),
      cond('PodScheduled', true),
    );
  }

  const status: PodStatusJson = {
    phase,
    conditions,
    hostIP: '127.0.0.1',
    hostIPs: [{ ip: '127.0.0.1' }],
    qosClass: 'BestEffort',
    containerStatuses: view.containers.map((c) => ({
      name: c.name,
      image: c.image,
      imageID: '',
      containerID: '',
      restartCount: c.restartCount,
      started: 'running' in c.state,
      ready: c.ready,
      state: c.state,
      lastState: c.lastTerminated ? { terminated: c.lastTerminated } : {},
    })),
  };
  if (!view.unschedulable) {
    status.podIP = '127.0.0.1';
    status.podIPs = [{ ip: '127.0.0.1' }];
  }
  if (view.startTime) status.startTime = view.startTime;
  return status;
}
