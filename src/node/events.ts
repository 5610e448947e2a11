import { randomBytes } from 'node:crypto';
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../api/logger.ts';
import { LocalNodeName } from './layout.ts';
import { nowRfc3339 } from './pod-status.ts';

export type EventType = 'Normal' | 'Warning';
export type PodEventSink = (type: EventType, reason: string, message: string) => void;

/**
 * Kubelet-style events about a pod (Scheduled, Started, BackOff, Killing, Failed…), so that
 * `kubectl describe pod` tells the same story as on a cluster. Best effort: a failed write is
 * logged, never retried.
 */
export function podEventSink(core: CoreV1Api, pod: V1Pod, logger: Logger): PodEventSink {
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = pod.metadata?.name ?? '';
  return (type, reason, message) => {
    const now = nowRfc3339();
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`, namespace },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', namespace, name, uid: pod.metadata?.uid, resourceVersion: pod.metadata?.resourceVersion },
      type,
      reason,
      message,
      source: { component: reason === 'Scheduled' || reason === 'FailedScheduling' ? 'default-scheduler' : 'kubelet', host: LocalNodeName },
      reportingComponent: reason === 'Scheduled' || reason === 'FailedScheduling' ? 'default-scheduler' : 'kubelet',
      reportingInstance: LocalNodeName,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    core.createNamespacedEvent({ namespace, body: body as never }).catch((err: unknown) => logger.debug({ err: String(err), reason }, 'event not recorded'));
  };
}
