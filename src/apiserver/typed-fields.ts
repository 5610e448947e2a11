import { canonicalQuantity, QuantitySyntaxError } from '../api/quantity.ts';
import { normalizeTime } from '../api/time.ts';
import type { KindInfo, KubeObject } from './kinds.ts';
import { badRequest } from './status.ts';

/**
 * Typed values of the built-in kinds, kept as kube-apiserver keeps them after decoding into its
 * Go types: metav1.Time with whole seconds in UTC, MicroTime with six fractional digits, and
 * resource quantities in canonical form ("1024Mi" is stored as "1Gi"). Custom resources are
 * stored as sent, as kube-apiserver stores them.
 * A path is dotted; `[]` steps into every element of a list, `*` into every value of a map.
 */
type Rendering = 'time' | 'micro' | 'quantity';

const conditionTimes = ['status.conditions[].lastTransitionTime', 'status.conditions[].lastProbeTime'];
const containerTimes = ['containerStatuses', 'initContainerStatuses'].flatMap((list) =>
  ['state', 'lastState'].flatMap((state) => [
    `status.${list}[].${state}.running.startedAt`,
    `status.${list}[].${state}.terminated.startedAt`,
    `status.${list}[].${state}.terminated.finishedAt`,
  ]),
);
const containerResources = ['containers', 'initContainers'].flatMap((list) => [`spec.${list}[].resources.requests.*`, `spec.${list}[].resources.limits.*`]);

const fields: Record<string, Partial<Record<Rendering, string[]>>> = {
  Event: { time: ['firstTimestamp', 'lastTimestamp'], micro: ['eventTime', 'series.lastObservedTime'] },
  Lease: { micro: ['spec.acquireTime', 'spec.renewTime'] },
  Namespace: { time: conditionTimes },
  PersistentVolumeClaim: {
    time: conditionTimes,
    quantity: ['spec.resources.requests.*', 'spec.resources.limits.*', 'status.capacity.*', 'status.allocatedResources.*'],
  },
  Service: { time: conditionTimes },
  Pod: { time: [...conditionTimes, 'status.startTime', ...containerTimes], quantity: [...containerResources, 'spec.overhead.*'] },
};

function visit(node: unknown, steps: string[], fix: (holder: Record<string, unknown>, key: string) => void): void {
  if (node === null || typeof node !== 'object') return;
  const [step, ...rest] = steps;
  const holder = node as Record<string, unknown>;
  const keys = step === '*' ? Object.keys(holder) : [step!.replace(/\[\]$/, '')];
  for (const key of keys) {
    if (rest.length === 0) {
      fix(holder, key);
      continue;
    }
    const next = holder[key];
    if (step!.endsWith('[]')) {
      if (Array.isArray(next)) for (const item of next) visit(item, rest, fix);
    } else visit(next, rest, fix);
  }
}

function render(value: unknown, as: Rendering): string | undefined {
  if (as === 'quantity') return typeof value === 'string' || typeof value === 'number' ? canonicalQuantity(value) : undefined;
  return typeof value === 'string' ? normalizeTime(value, as === 'micro') : undefined;
}

export function normalizeTypedFields(info: KindInfo, obj: KubeObject): void {
  if (info.customResource) return;
  for (const [as, paths] of Object.entries(fields[info.kind] ?? {}) as Array<[Rendering, string[]]>) {
    for (const path of paths) {
      visit(obj, path.split('.'), (holder, key) => {
        const value = holder[key];
        if (value === undefined || value === null) return;
        const fixed = render(value, as);
        if (fixed === undefined) {
          const why = as === 'quantity' ? QuantitySyntaxError : `parsing time ${JSON.stringify(value)}: not RFC 3339`;
          throw badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: ${why}`);
        }
        holder[key] = fixed;
      });
    }
  }
}
