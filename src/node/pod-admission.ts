import type { V1Container, V1Pod, V1SecurityContext } from '@kubernetes/client-node';
import { PodReason } from '../api/conditions.ts';
import { LauncherImage, nodeKindOf, WorkerImages } from '../api/images.ts';
import { envNameAllowed } from './worker-contract.ts';

/**
 * What the local node agent agrees to run. A pod here becomes processes on the host, so it may
 * only start the product's worker entry points with the product's own inputs: no command, no
 * arguments but the klog verbosity CDI's controllers pass, only the worker contracts' variables,
 * no exec handlers (no pod the product creates has one), no privileges beyond the image's user.
 * The pod comes from the store as it was written, so every field is checked for its shape first:
 * a malformed pod is refused like any other, it never throws.
 */
export type Admission = { ok: true } | { ok: false; reason: typeof PodReason.Unschedulable | typeof PodReason.ErrImageNeverPull; message: string };

/** CDI's controllers give each worker one argument, klog's verbosity (`-v=1`). */
const verbosityArg = /^-v=\d{1,2}$/;

export function admitPod(pod: unknown): Admission {
  const refuse = (message: string): Admission => ({ ok: false, reason: PodReason.Unschedulable, message: `${message}: the local node agent refuses to run it` });
  if (!isObject(pod)) return refuse('pod is not an object');
  // The uid names the pod's socket directory: it must be one safe path segment.
  const uid = (pod as V1Pod).metadata?.uid as unknown;
  if (typeof uid !== 'string' || !/^[\w-]+$/.test(uid)) return refuse('metadata.uid is not a uid');
  const spec = (pod as V1Pod).spec as unknown;
  if (!isObject(spec)) return refuse('spec is not an object');
  const shape = specShapeProblem(spec);
  if (shape) return refuse(shape);
  const s = spec as NonNullable<V1Pod['spec']>;
  const foreign = s.containers.filter((c) => nodeKindOf(c) === undefined).map((c) => c.image ?? '');
  if (foreign.length) {
    const known = [...Object.values(WorkerImages).map((w) => w.repository), `${LauncherImage.repository} (containers ${Object.keys(LauncherImage.entries).join(', ')})`].join(', ');
    return { ok: false, reason: PodReason.ErrImageNeverPull, message: `image ${foreign.join(', ')} cannot run locally: the local node agent runs only the product's worker images (${known})` };
  }
  const podProblem = privilegeProblem('spec.securityContext', s.securityContext as V1SecurityContext | undefined);
  if (podProblem) return refuse(podProblem);
  for (const [i, c] of s.containers.entries()) {
    const problem = containerProblem(c, `spec.containers[${i}]`);
    if (problem) return refuse(`container "${c.name}": ${problem}`);
  }
  return { ok: true };
}

function containerProblem(c: V1Container, at: string): string | undefined {
  if (c.command?.length) return `${at}.command is set: a worker runs its image's own entry point`;
  const arg = (c.args ?? []).find((a) => typeof a !== 'string' || !verbosityArg.test(a));
  if (arg !== undefined) return `${at}.args ${JSON.stringify(arg)} is not a worker argument (only -v=<level>)`;
  if (c.workingDir) return `${at}.workingDir is set: a worker runs in the directory the node agent gives it`;
  const kind = nodeKindOf(c);
  const name = (c.env ?? []).map((e) => e.name).find((n) => kind === undefined || !envNameAllowed(kind, n));
  if (name !== undefined) return `${at}.env ${JSON.stringify(name)} is not a variable of the ${kind} worker's contract`;
  if (c.livenessProbe) return `${at}.livenessProbe is not supported`;
  if (c.startupProbe) return `${at}.startupProbe is not supported`;
  if (c.lifecycle) return `${at}.lifecycle hooks are not supported`;
  if (c.readinessProbe?.exec) return `${at}.readinessProbe.exec is not supported: a probe may only be httpGet or tcpSocket`;
  if (c.readinessProbe?.grpc) return `${at}.readinessProbe.grpc is not supported`;
  for (const [j, m] of (c.volumeMounts ?? []).entries()) {
    if (m.subPathExpr) return `${at}.volumeMounts[${j}].subPathExpr is not supported`;
  }
  return privilegeProblem(`${at}.securityContext`, c.securityContext);
}

function privilegeProblem(at: string, sc: V1SecurityContext | undefined): string | undefined {
  if (sc === undefined || sc === null) return undefined;
  if (!isObject(sc)) return `${at} is not an object`;
  if (sc.privileged) return `${at}.privileged is true`;
  if (sc.allowPrivilegeEscalation) return `${at}.allowPrivilegeEscalation is true`;
  if (sc.capabilities?.add?.length) return `${at}.capabilities.add asks for ${sc.capabilities.add.join(', ')}`;
  if (sc.runAsUser === 0) return `${at}.runAsUser is 0 (root)`;
  if (sc.runAsGroup === 0) return `${at}.runAsGroup is 0 (root)`;
  if (sc.seccompProfile?.type === 'Unconfined') return `${at}.seccompProfile is Unconfined`;
  return undefined;
}

/** The first field of the spec whose JSON type is not what the node agent reads, if any. */
function specShapeProblem(spec: object): string | undefined {
  const s = spec as Record<string, unknown>;
  const containers = s.containers;
  if (!Array.isArray(containers) || containers.length === 0) return 'spec.containers is not a non-empty array';
  for (const field of ['initContainers', 'ephemeralContainers'] as const) {
    const v = s[field];
    if (v !== undefined && v !== null && (!Array.isArray(v) || v.length > 0)) return `spec.${field} is not supported`;
  }
  if (s.securityContext !== undefined && s.securityContext !== null && !isObject(s.securityContext)) return 'spec.securityContext is not an object';
  const volumes = s.volumes;
  if (volumes !== undefined && volumes !== null) {
    if (!Array.isArray(volumes)) return 'spec.volumes is not an array';
    for (const [i, v] of volumes.entries()) {
      if (!isObject(v) || typeof (v as { name?: unknown }).name !== 'string') return `spec.volumes[${i}] is not an object with a name`;
    }
  }
  for (const [i, c] of containers.entries()) {
    const at = `spec.containers[${i}]`;
    if (!isObject(c)) return `${at} is not an object`;
    const cc = c as Record<string, unknown>;
    if (typeof cc.name !== 'string' || cc.name === '') return `${at}.name is not a string`;
    if (typeof cc.image !== 'string') return `${at}.image is not a string`;
    for (const list of ['command', 'args', 'env', 'envFrom', 'ports', 'volumeMounts', 'volumeDevices'] as const) {
      const v = cc[list];
      if (v === undefined || v === null) continue;
      if (!Array.isArray(v)) return `${at}.${list} is not an array`;
      const itemsAreStrings = list === 'command' || list === 'args';
      const bad = v.findIndex((item) => (itemsAreStrings ? typeof item !== 'string' : !isObject(item)));
      if (bad >= 0) return `${at}.${list}[${bad}] is not ${itemsAreStrings ? 'a string' : 'an object'}`;
    }
    for (const [j, e] of ((cc.env as unknown[] | undefined) ?? []).entries()) {
      if (typeof (e as { name?: unknown }).name !== 'string') return `${at}.env[${j}].name is not a string`;
    }
    for (const [j, m] of ((cc.volumeMounts as unknown[] | undefined) ?? []).entries()) {
      const mm = m as { name?: unknown; mountPath?: unknown; subPath?: unknown };
      if (typeof mm.name !== 'string' || typeof mm.mountPath !== 'string') return `${at}.volumeMounts[${j}] has no name and mountPath`;
      if (mm.subPath !== undefined && mm.subPath !== null && typeof mm.subPath !== 'string') return `${at}.volumeMounts[${j}].subPath is not a string`;
    }
    for (const probe of ['readinessProbe', 'livenessProbe', 'startupProbe', 'securityContext', 'resources'] as const) {
      const v = cc[probe];
      if (v !== undefined && v !== null && !isObject(v)) return `${at}.${probe} is not an object`;
    }
  }
  return undefined;
}

function isObject(v: unknown): v is object {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The elements of a list field that are objects; anything else in the store reads as empty. */
export function objectsOf<T>(list: unknown): T[] {
  return Array.isArray(list) ? (list.filter(isObject) as T[]) : [];
}
