import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { ConditionMessage, PodReason, Reason, rewriteSpaceError } from '../api/conditions.ts';

/**
 * What a worker pod says about the transfer, read the way CDI's PVC controllers read it
 * (`pkg/controller/import-controller.go` updatePVC / `util.go` UpdateRunningCondition…):
 * phase, readiness, restarts, the Running condition feed and the termination message.
 */
export interface WorkerStatus {
  phase: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';
  ready: boolean;
  restarts: number;
  running: { status: 'True' | 'False'; reason: string; message: string };
  /** The worker's final message: JSON `message` for exit 0, the raw text otherwise. */
  terminationMessage?: string;
  /** Checksum mismatch: CDI's only terminal import error. */
  fatal: boolean;
  /** The last error a restarted or failed container left, for the retry budget. */
  lastError?: string;
  /** Labels the importer found for the claim (a registry image's *_KUBEVIRT_IO_* environment). */
  labels?: Record<string, string>;
}

interface TerminationJson {
  message?: string;
  preallocationApplied?: boolean;
  stage?: string;
  labels?: Record<string, string>;
}

export function parseTerminationMessage(raw: string | undefined, exitCode: number | undefined): { message?: string; json?: TerminationJson } {
  if (!raw) return {};
  const text = raw.trim();
  if (exitCode === 0 && text.startsWith('{')) {
    try {
      const json = JSON.parse(text) as TerminationJson;
      return { message: json.message ?? '', json };
    } catch {
      return { message: text };
    }
  }
  if (text.startsWith('{')) {
    try {
      const json = JSON.parse(text) as TerminationJson;
      if (typeof json.message === 'string') return { message: json.message, json };
    } catch {
      // plain text after all
    }
  }
  return { message: text };
}

export function isChecksumFailure(message: string | undefined): boolean {
  return !!message && /checksum (mismatch|validation failed)/i.test(message);
}

function mainContainer(pod: V1Pod): V1ContainerStatus | undefined {
  return pod.status?.containerStatuses?.[0];
}

/** `volumesOnNodeDisk`: see rewriteSpaceError. */
export function workerStatus(pod: V1Pod, volumesOnNodeDisk = false): WorkerStatus {
  const phase = (pod.status?.phase ?? 'Pending') as WorkerStatus['phase'];
  const cs = mainContainer(pod);
  const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
  const restarts = cs?.restartCount ?? 0;
  const terminated = cs?.state?.terminated;
  const lastTerminated = cs?.lastState?.terminated;
  const finished = terminated ?? lastTerminated;
  const parsed = parseTerminationMessage(finished?.message, finished?.exitCode);
  const message = parsed.message;
  const fatal = isChecksumFailure(message);
  const lastError = finished && finished.exitCode !== 0 ? (message ?? finished.reason ?? `exit code ${finished.exitCode}`) : undefined;

  let running: WorkerStatus['running'];
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  const waiting = cs?.state?.waiting;
  if (cs?.state?.running) {
    running = { status: 'True', reason: Reason.PodRunning, message: '' };
  } else if (terminated) {
    running = {
      status: 'False',
      reason: fatal ? Reason.ChecksumError : (terminated.reason ?? (terminated.exitCode === 0 ? Reason.Completed : Reason.Error)),
      message: rewriteSpaceError(message ?? '', volumesOnNodeDisk),
    };
  } else if (waiting && lastTerminated) {
    running = { status: 'False', reason: fatal ? Reason.ChecksumError : (lastTerminated.reason ?? Reason.Error), message: rewriteSpaceError(message ?? '', volumesOnNodeDisk) };
  } else if (waiting && /ImagePull|ErrImage/.test(waiting.reason ?? '')) {
    // The node's own words after CDI's: which registry said what (a denied pull of a pullMethod node image volume).
    const detail = waiting.message ? `: ${waiting.message}` : '';
    running = { status: 'False', reason: Reason.ImagePullFailed, message: `${ConditionMessage.imagePull(cs?.image ?? '')}${detail}` };
  } else if (waiting) {
    running = { status: 'False', reason: waiting.reason ?? '', message: waiting.message ?? '' };
  } else if (scheduled?.status === 'False' && scheduled.reason === PodReason.Unschedulable) {
    running = { status: 'False', reason: Reason.Unschedulable, message: ConditionMessage.unschedulable };
  } else {
    running = { status: 'False', reason: phase === 'Pending' ? 'Pending' : '', message: '' };
  }
  const labels = terminated?.exitCode === 0 ? stringRecord(parsed.json?.labels) : undefined;
  return { phase, ready, restarts, running, ...(message !== undefined ? { terminationMessage: message } : {}), fatal, ...(lastError ? { lastError } : {}), ...(labels ? { labels } : {}) };
}

function stringRecord(value: unknown): Record<string, string> | undefined {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const entries = Object.entries(value).filter((e): e is [string, string] => typeof e[1] === 'string');
  return entries.length ? Object.fromEntries(entries) : undefined;
}
