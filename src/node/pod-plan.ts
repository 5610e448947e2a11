import path from 'node:path';
import type { V1Container, V1EnvFromSource, V1EnvVar, V1Pod, V1Probe, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { PodReason } from '../api/conditions.ts';
import { ImporterEnv, LocalEnv, PodPaths, UploadServerEnv } from '../api/env.ts';
import { KvmResource, nodeEntryOf, nodeKindOf, type NodeKind } from '../api/images.ts';
import { parseQuantity } from '../api/quantity.ts';
import { objectsOf } from './pod-admission.ts';
import { resolveEnv, type ObjectData } from './pod-env.ts';
import { envNameAllowed, pathValuedEnv } from './worker-contract.ts';

/**
 * Pure mapping of a Pod onto local child processes: which entry script each container runs,
 * its environment with valueFrom resolved and in-pod paths rewritten to the bound volumes, the
 * files to materialise for secret and configMap volumes, and the probes. No I/O here; the
 * caller fetches the objects named by `podReferences` and allocates ports first.
 */
export interface ClaimBinding {
  path: string;
  block: boolean;
  capacityBytes: number;
}

export interface PlanInputs {
  pod: V1Pod;
  claims: ReadonlyMap<string, ClaimBinding>;
  secrets: ReadonlyMap<string, ObjectData>;
  configMaps: ReadonlyMap<string, ObjectData>;
  /** containerPort → host port, for every port `portsToAllocate` returned. */
  hostPorts: ReadonlyMap<number, number>;
  podVolumeDir: (volume: string) => string;
  terminationLogPath: (container: string) => string;
  /** Where an upload server container also listens, owner-only, for the embedded upload proxy. */
  uploadSocketPath: string;
  projectRoot: string;
  /** The group of /dev/kvm, when the host has one: a container asking for devices.kubevirt.io/kvm joins it. */
  kvmGroup?: number;
}

export type ProbePlan =
  | { type: 'http'; scheme: 'http' | 'https'; port: number; path: string; headers: Record<string, string> }
  | { type: 'tcp'; port: number };

export interface ProbeTiming {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ContainerPlan {
  name: string;
  kind: NodeKind;
  entry: string;
  args: string[];
  env: Record<string, string>;
  /** RLIMIT_FSIZE for the process: the capacity of the volume it writes its image to. */
  fileSizeLimit?: number;
  /** resources.limits.memory in bytes, when the container has one. */
  memoryLimit?: number;
  /** The user the process runs as: the pod's runAsUser/runAsGroup, else the image's USER 107:107. */
  user: WorkerUser;
  terminationLogPath: string;
  fallbackToLogsOnError: boolean;
  readiness?: { probe: ProbePlan; timing: ProbeTiming };
}

export interface MaterialisedFile {
  path: string;
  data: Buffer;
  mode: number;
}

export interface WorkerUser {
  uid: number;
  gid: number;
  /** fsGroup and supplementalGroups: the process's extra groups, and the group of its volumes. */
  groups: number[];
}

/** A host path the pod uses that must stay inside `root` once symlinks on disk are followed. */
export interface ConfinedPath {
  root: string;
  path: string;
  /** A subPath the kubelet would create when it is missing. */
  createDir: boolean;
  /** What the pod named it by, for the refusal message. */
  what: string;
}

export interface PodPlan {
  containers: ContainerPlan[];
  dirs: string[];
  files: MaterialisedFile[];
  /** Directories the worker's user owns (the kubelet's fsGroup ownership): its claims and emptyDirs. */
  ownedDirs: string[];
  /** Its Block claim files. */
  ownedFiles: string[];
  confined: ConfinedPath[];
  /** Image volumes to pull before the containers start (image-volume.ts). */
  imageVolumes: ImageVolumePlan[];
}

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

/** The kubelet's default: Always for `:latest` or no tag, else IfNotPresent. */
export function defaultPullPolicy(reference: string): PullPolicy {
  if (reference.includes('@')) return 'IfNotPresent';
  const tail = reference.slice(reference.lastIndexOf('/') + 1);
  const colon = tail.lastIndexOf(':');
  return colon < 0 || tail.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

export interface ImageVolumePlan {
  volume: string;
  reference: string;
  dir: string;
  pullPolicy: PullPolicy;
  /** The file a mount's subPath names in the image, when not the one file under /disk. */
  entry?: string;
}

export type PlanResult = { ok: true; plan: PodPlan } | { ok: false; reason: string; message: string };

/** The USER of the product's worker images (docker/Dockerfile), CDI's qemu user. */
export const ImageUser = 107;

export interface PodReferences {
  claims: Set<string>;
  secrets: Set<string>;
  configMaps: Set<string>;
}

/** The claims, secrets and configMaps a pod needs before it can start. */
export function podReferences(pod: V1Pod): PodReferences {
  const refs: PodReferences = { claims: new Set(), secrets: new Set(), configMaps: new Set() };
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const add = (set: Set<string>, v: unknown) => void (str(v) !== undefined && set.add(v as string));
  for (const v of objectsOf<V1Volume>(pod.spec?.volumes)) {
    add(refs.claims, v.persistentVolumeClaim?.claimName);
    add(refs.secrets, v.secret?.secretName);
    add(refs.configMaps, v.configMap?.name);
  }
  // Image pull secrets are read like the kubelet reads them: a missing one is skipped.
  for (const s of objectsOf<{ name?: unknown }>(pod.spec?.imagePullSecrets)) add(refs.secrets, s.name);
  for (const c of objectsOf<V1Container>(pod.spec?.containers)) {
    for (const e of objectsOf<V1EnvVar>(c.env)) {
      add(refs.secrets, e.valueFrom?.secretKeyRef?.name);
      add(refs.configMaps, e.valueFrom?.configMapKeyRef?.name);
    }
    for (const f of objectsOf<V1EnvFromSource>(c.envFrom)) {
      add(refs.secrets, f.secretRef?.name);
      add(refs.configMaps, f.configMapRef?.name);
    }
  }
  return refs;
}

/** Container ports (declared, or probed) that need a host port. */
export function portsToAllocate(pod: V1Pod): number[] {
  const ports = new Set<number>();
  for (const c of objectsOf<V1Container>(pod.spec?.containers)) {
    for (const p of objectsOf<{ containerPort?: unknown }>(c.ports)) if (typeof p.containerPort === 'number') ports.add(p.containerPort);
    const probePort = c.readinessProbe?.httpGet?.port ?? c.readinessProbe?.tcpSocket?.port;
    if (typeof probePort === 'number') ports.add(probePort);
  }
  return [...ports].sort((a, b) => a - b);
}

export function planPod(inputs: PlanInputs): PlanResult {
  try {
    return { ok: true, plan: buildPlan(inputs) };
  } catch (err) {
    if (err instanceof PlanProblem) return { ok: false, reason: err.reason, message: err.message };
    throw err;
  }
}

class PlanProblem extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

interface VolumeSource {
  hostPath: string;
  claim?: ClaimBinding;
  image?: boolean;
}

function buildPlan(inputs: PlanInputs): PodPlan {
  const { pod } = inputs;
  if (pod.spec?.initContainers?.length) throw new PlanProblem(PodReason.CreateContainerConfigError, 'init containers are not supported by the local node agent');
  const plan: PodPlan = { containers: [], dirs: [], files: [], ownedDirs: [], ownedFiles: [], confined: [], imageVolumes: [] };
  const volumes = new Map<string, VolumeSource>();
  for (const v of pod.spec?.volumes ?? []) volumes.set(v.name, mapVolume(v, inputs, plan));
  for (const c of pod.spec?.containers ?? []) plan.containers.push(planContainer(c, volumes, inputs, plan));
  return plan;
}

function mapVolume(v: V1Volume, inputs: PlanInputs, plan: PodPlan): VolumeSource {
  if (v.persistentVolumeClaim) {
    const claim = inputs.claims.get(v.persistentVolumeClaim.claimName);
    if (!claim) throw new PlanProblem(PodReason.Unschedulable, `persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" is not bound`);
    (claim.block ? plan.ownedFiles : plan.ownedDirs).push(claim.path);
    return { hostPath: claim.path, claim };
  }
  const dir = inputs.podVolumeDir(v.name);
  plan.dirs.push(dir);
  if (v.emptyDir) {
    plan.ownedDirs.push(dir);
    return { hostPath: dir };
  }
  if (v.image) {
    if (!v.image.reference) throw new PlanProblem('CreateContainerConfigError', `image volume "${v.name}" has no reference`);
    const pullPolicy = v.image.pullPolicy ?? defaultPullPolicy(v.image.reference);
    if (pullPolicy !== 'Always' && pullPolicy !== 'IfNotPresent' && pullPolicy !== 'Never') throw new PlanProblem(PodReason.CreateContainerConfigError, `image volume "${v.name}": unknown pullPolicy ${pullPolicy}`);
    plan.imageVolumes.push({ volume: v.name, reference: v.image.reference, dir, pullPolicy });
    return { hostPath: dir, image: true };
  }
  const source = v.secret
    ? { kind: 'secret', name: v.secret.secretName ?? '', data: inputs.secrets.get(v.secret.secretName ?? ''), items: v.secret.items, mode: v.secret.defaultMode, optional: v.secret.optional }
    : v.configMap
      ? { kind: 'configmap', name: v.configMap.name ?? '', data: inputs.configMaps.get(v.configMap.name ?? ''), items: v.configMap.items, mode: v.configMap.defaultMode, optional: v.configMap.optional }
      : undefined;
  if (!source) throw new PlanProblem(PodReason.CreateContainerConfigError, `volume "${v.name}" is of a type the local node agent cannot provide`);
  if (!source.data) {
    if (source.optional) return { hostPath: dir };
    throw new PlanProblem(PodReason.CreateContainerConfigError, `${source.kind} "${source.name}" not found`);
  }
  const mode = source.mode ?? 0o644;
  const entries = source.items ?? Object.keys(source.data).map((key) => ({ key, path: key, mode: undefined }));
  for (const item of entries) {
    const data = source.data[item.key];
    if (data === undefined) throw new PlanProblem(PodReason.CreateContainerConfigError, `couldn't find key ${item.key} in ${source.kind} ${inputs.pod.metadata?.namespace}/${source.name}`);
    const file = path.join(dir, item.path);
    if (!file.startsWith(dir + path.sep)) throw new PlanProblem(PodReason.CreateContainerConfigError, `volume "${v.name}" item path ${item.path} escapes the volume`);
    plan.files.push({ path: file, data, mode: item.mode ?? mode });
  }
  return { hostPath: dir };
}

function planContainer(c: V1Container, volumes: ReadonlyMap<string, VolumeSource>, inputs: PlanInputs, plan: PodPlan): ContainerPlan {
  const kind = nodeKindOf(c);
  if (!kind) throw new PlanProblem(PodReason.ErrImageNeverPull, `image ${c.image} cannot run locally`);
  const mounts: Mount[] = [];
  let target: string | undefined;
  let fileSizeLimit: number | undefined;
  for (const m of c.volumeMounts ?? []) {
    const vol = volumes.get(m.name);
    if (!vol) throw new PlanProblem(PodReason.CreateContainerConfigError, `volume "${m.name}" is not defined in the pod`);
    if (vol.claim?.block) throw new PlanProblem(PodReason.CreateContainerConfigError, `volume "${m.name}" has volumeMode Block and must be used with volumeDevices`);
    const hostPath = vol.image && m.subPath ? imageEntryOf(vol.hostPath, m.subPath, plan) : subPathOf(vol.hostPath, m, plan);
    mounts.push({ podPath: stripSlash(m.mountPath), hostPath, root: vol.hostPath });
    if (stripSlash(m.mountPath) === PodPaths.dataDir && vol.claim) {
      // An archive is extracted into /data itself; an image is /data/disk.img.
      target = isArchive(c) ? hostPath : path.join(hostPath, path.basename(PodPaths.filesystemTarget));
      plan.confined.push({ root: vol.hostPath, path: target, createDir: false, what: PodPaths.filesystemTarget });
      fileSizeLimit = vol.claim.capacityBytes;
    }
  }
  for (const d of c.volumeDevices ?? []) {
    const vol = volumes.get(d.name);
    if (!vol?.claim?.block) throw new PlanProblem(PodReason.CreateContainerConfigError, `volume "${d.name}" is not a Block claim and cannot be a volumeDevice`);
    mounts.push({ podPath: d.devicePath, hostPath: vol.hostPath, root: vol.hostPath });
    if (d.devicePath === PodPaths.blockTarget || target === undefined) {
      target = vol.hostPath;
      fileSizeLimit = vol.claim.capacityBytes;
    }
  }
  const terminationLog = inputs.terminationLogPath(c.name);
  mounts.push({ podPath: c.terminationMessagePath ?? PodPaths.terminationLog, hostPath: terminationLog, root: terminationLog });
  mounts.sort((a, b) => b.podPath.length - a.podPath.length);

  const resolved = resolveEnv(c, inputs.pod, { secrets: inputs.secrets, configMaps: inputs.configMaps });
  if (!resolved.ok) throw new PlanProblem(PodReason.CreateContainerConfigError, resolved.message);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(resolved.env)) {
    // envFrom brings a secret's or configMap's keys: they meet the same contract as env.
    if (!envNameAllowed(kind, k)) throw new PlanProblem(PodReason.CreateContainerConfigError, `variable ${JSON.stringify(k)} is not part of the ${kind} worker's contract`);
    env[k] = pathValuedEnv[kind].has(k) ? confinedEnvPath(k, v, mounts, plan) : v;
  }

  if (target) env[LocalEnv.target] = target;
  const imageVolume = (c.volumeMounts ?? []).find((m) => volumes.get(m.name)?.image && stripSlash(m.mountPath) === PodPaths.imageVolume);
  if (imageVolume) env[LocalEnv.imageVolumeDir] = volumes.get(imageVolume.name)!.hostPath;
  const scratch = mounts.find((m) => m.podPath === PodPaths.scratchDir);
  if (scratch) env[LocalEnv.scratchDir] = scratch.hostPath;
  const headerDirs = mounts
    .filter((m) => path.posix.dirname(m.podPath) === PodPaths.secretExtraHeadersDir)
    .sort((x, y) => Number(path.posix.basename(x.podPath)) - Number(path.posix.basename(y.podPath)))
    .map((m) => m.hostPath);
  // JSON, not a `:` list: a data dir may contain any character.
  if (headerDirs.length) env[LocalEnv.secretExtraHeaderDirs] = JSON.stringify(headerDirs);
  env[LocalEnv.terminationLog] = terminationLog;
  const firstPort = c.ports?.[0]?.containerPort;
  if (firstPort !== undefined) env[LocalEnv.listenPort] = String(requirePort(inputs.hostPorts, firstPort));
  if (kind === 'uploadServer') env[LocalEnv.listenSocket] = inputs.uploadSocketPath;
  if (kind === 'virtLauncher' || kind === 'guestConsoleLog') {
    // The launcher opens the disks its domain names by in-pod path, through these.
    env[LocalEnv.mounts] = JSON.stringify(mounts.map((m) => ({ podPath: m.podPath, hostPath: m.hostPath })));
    const ports = (c.ports ?? []).map((p) => [p.containerPort, requirePort(inputs.hostPorts, p.containerPort)]);
    if (ports.length) env[LocalEnv.portMap] = JSON.stringify(Object.fromEntries(ports));
  }
  const user = workerUser(inputs.pod, c);
  if (c.resources?.limits?.[KvmResource] !== undefined) {
    if (inputs.kvmGroup === undefined) throw new PlanProblem('Unschedulable', `${KvmResource}: this host has no /dev/kvm`);
    user.groups = [...new Set([...user.groups, inputs.kvmGroup])];
  }

  const readiness = c.readinessProbe ? planProbe(c, c.readinessProbe, inputs.hostPorts) : undefined;
  const memoryLimit = parseQuantity(c.resources?.limits?.memory as string | undefined);
  return {
    name: c.name,
    kind,
    entry: path.join(inputs.projectRoot, nodeEntryOf(kind)),
    args: [...(c.args ?? [])],
    env,
    ...(fileSizeLimit !== undefined ? { fileSizeLimit } : {}),
    ...(memoryLimit !== undefined && memoryLimit > 0 ? { memoryLimit } : {}),
    user,
    terminationLogPath: terminationLog,
    fallbackToLogsOnError: c.terminationMessagePolicy === 'FallbackToLogsOnError',
    ...(readiness ? { readiness } : {}),
  };
}

interface Mount {
  podPath: string;
  hostPath: string;
  /** The volume the mount is part of: its subPath, and paths below it, must stay inside. */
  root: string;
}

/** The kubelet's subPath rules (its messages), confined to the volume on disk before start. */
function subPathOf(volumePath: string, m: V1VolumeMount, plan: PodPlan): string {
  const sub = m.subPath;
  if (!sub) return volumePath;
  if (path.isAbsolute(sub)) throw new PlanProblem(PodReason.CreateContainerConfigError, `error SubPath \`${sub}\` must not be an absolute path`);
  if (sub.split(/[/\\]/).includes('..')) throw new PlanProblem(PodReason.CreateContainerConfigError, `unable to provision SubPath \`${sub}\`: must not contain '..'`);
  const hostPath = path.join(volumePath, sub);
  plan.confined.push({ root: volumePath, path: hostPath, createDir: true, what: `subPath ${sub}` });
  return hostPath;
}

/** A subPath of an image volume names the one file of the image the node materialises there. */
function imageEntryOf(volumePath: string, sub: string, plan: PodPlan): string {
  if (path.isAbsolute(sub)) throw new PlanProblem(PodReason.CreateContainerConfigError, `error SubPath \`${sub}\` must not be an absolute path`);
  if (sub.split(/[/\\]/).includes('..')) throw new PlanProblem(PodReason.CreateContainerConfigError, `unable to provision SubPath \`${sub}\`: must not contain '..'`);
  const volume = plan.imageVolumes.find((v) => v.dir === volumePath);
  if (volume && volume.entry !== undefined && volume.entry !== sub) throw new PlanProblem(PodReason.CreateContainerConfigError, `image volume "${volume.volume}" is mounted with two subPaths; the local node provides one file of an image`);
  if (volume) volume.entry = sub;
  return path.join(volumePath, sub);
}

/** An in-pod path a worker opens: it must name a place inside one of the container's mounts. */
function confinedEnvPath(name: string, value: string, mounts: readonly Mount[], plan: PodPlan): string {
  const normal = path.posix.normalize(value);
  const mount = value.split('/').includes('..') ? undefined : mounts.find((m) => normal === m.podPath || normal.startsWith(m.podPath + '/'));
  if (!mount) throw new PlanProblem(PodReason.CreateContainerConfigError, `${name}=${JSON.stringify(value)} is not a path inside one of the container's volume mounts`);
  const hostPath = mount.hostPath + normal.slice(mount.podPath.length);
  plan.confined.push({ root: mount.root, path: hostPath, createDir: false, what: `${name} ${value}` });
  return hostPath;
}

function workerUser(pod: V1Pod, c: V1Container): WorkerUser {
  const podSc = pod.spec?.securityContext;
  const uid = c.securityContext?.runAsUser ?? podSc?.runAsUser ?? ImageUser;
  const gid = c.securityContext?.runAsGroup ?? podSc?.runAsGroup ?? ImageUser;
  const groups = [...(podSc?.fsGroup !== undefined ? [podSc.fsGroup] : []), ...(podSc?.supplementalGroups ?? [])];
  return { uid, gid, groups: [...new Set(groups)] };
}

function planProbe(c: V1Container, p: V1Probe, hostPorts: ReadonlyMap<number, number>) {
  const timing: ProbeTiming = {
    initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
    periodMs: (p.periodSeconds ?? 10) * 1000,
    timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
    successThreshold: p.successThreshold ?? 1,
    failureThreshold: p.failureThreshold ?? 3,
  };
  const portOf = (port: number | string): number => {
    const containerPort = typeof port === 'number' ? port : c.ports?.find((cp) => cp.name === port)?.containerPort;
    if (containerPort === undefined) throw new PlanProblem(PodReason.CreateContainerConfigError, `probe port ${port} is not a port of container ${c.name}`);
    return requirePort(hostPorts, containerPort);
  };
  let probe: ProbePlan;
  if (p.httpGet) {
    const headers: Record<string, string> = {};
    for (const h of p.httpGet.httpHeaders ?? []) headers[h.name] = h.value;
    probe = { type: 'http', scheme: p.httpGet.scheme === 'HTTPS' ? 'https' : 'http', port: portOf(p.httpGet.port as number | string), path: p.httpGet.path ?? '/', headers };
  } else if (p.tcpSocket) {
    probe = { type: 'tcp', port: portOf(p.tcpSocket.port as number | string) };
  } else {
    throw new PlanProblem(PodReason.CreateContainerConfigError, `readiness probe of container ${c.name} has no handler the local node agent supports`);
  }
  return { probe, timing };
}

function requirePort(hostPorts: ReadonlyMap<number, number>, containerPort: number): number {
  const port = hostPorts.get(containerPort);
  if (port === undefined) throw new PlanProblem(PodReason.CreateContainerConfigError, `no host port allocated for container port ${containerPort}`);
  return port;
}

function isArchive(c: V1Container): boolean {
  return (c.env ?? []).some((e) => (e.name === ImporterEnv.contentType || e.name === UploadServerEnv.contentType) && e.value === 'archive');
}

function stripSlash(p: string): string {
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}
