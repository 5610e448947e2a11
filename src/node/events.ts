import { randomBytes } from 'node:crypto';
import { PatchStrategy, setHeaderOptions, type CoreV1Api, type V1ObjectMeta, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../api/logger.ts';
import { LocalNodeName } from './layout.ts';
import { nowRfc3339 } from './pod-status.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export type EventType = 'Normal' | 'Warning';
export type PodEventSink = (type: EventType, reason: string, message: string) => void;

/**
 * Kubelet-style events about a pod (Scheduled, Started, BackOff, Killing, Failed…), so that
 * `kubectl describe pod` tells the same story as on a cluster. Best effort: a failed write is
 * logged, never retried.
 */
export function podEventSink(core: CoreV1Api, pod: V1Pod, logger: Logger): PodEventSink {
  return eventSink(core, { apiVersion: 'v1', kind: 'Pod', metadata: pod.metadata }, logger);
}

/** The same recorder for any object of the core group (a claim's ProvisioningFailed). */
export function eventSink(core: CoreV1Api, obj: { apiVersion: string; kind: string; metadata?: V1ObjectMeta | undefined }, logger: Logger, component = 'kubelet'): PodEventSink {
  const namespace = obj.metadata?.namespace ?? 'default';
  const name = obj.metadata?.name ?? '';
  const seen = new Map<string, { name: string; count: number }>();
  return (type, reason, message) => {
    const now = nowRfc3339();
    const same = seen.get(`${type}/${reason}/${message}`);
    if (same) {
      // The kubelet's recorder folds a repeated event into one with a count ("x3 over 12s").
      same.count += 1;
      core
        .patchNamespacedEvent({ namespace, name: same.name, body: { count: same.count, lastTimestamp: now } }, mergePatch)
        .catch((err: unknown) => logger.debug({ err: String(err), reason }, 'event not updated'));
      return;
    }
    const eventName = `${name}.${Date.now().toString(16)}${randomBytes(2).toString('hex')}`;
    seen.set(`${type}/${reason}/${message}`, { name: eventName, count: 1 });
    const body = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: eventName, namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, namespace, name, uid: obj.metadata?.uid, resourceVersion: obj.metadata?.resourceVersion },
      type,
      reason,
      message,
      source: { component: reason === 'Scheduled' || reason === 'FailedScheduling' ? 'default-scheduler' : component, host: LocalNodeName },
      reportingComponent: reason === 'Scheduled' || reason === 'FailedScheduling' ? 'default-scheduler' : component,
      reportingInstance: LocalNodeName,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    core.createNamespacedEvent({ namespace, body: body as never }).catch((err: unknown) => logger.debug({ err: String(err), reason }, 'event not recorded'));
  };
}
