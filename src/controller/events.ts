import { randomBytes } from 'node:crypto';
import type { Kube } from './kube.ts';

interface InvolvedObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; uid?: string };
}

/** Records a core/v1 Event about `obj`, as a controller's event recorder does. */
export async function recordEvent(kube: Kube, component: string, obj: InvolvedObject, type: string, reason: string, message: string): Promise<void> {
  const namespace = obj.metadata?.namespace ?? 'default';
  const name = obj.metadata?.name ?? '';
  const now = new Date();
  await kube.core.createNamespacedEvent({
    namespace,
    body: {
      metadata: { name: `${name}.${randomBytes(8).toString('hex')}`, namespace },
      involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name, namespace, uid: obj.metadata?.uid ?? '' },
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: now,
      lastTimestamp: now,
      source: { component },
      reportingComponent: component,
    },
  });
}
