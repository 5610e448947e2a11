import fs from 'node:fs';
import path from 'node:path';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1PersistentVolumeClaim, type V1Pod } from '@kubernetes/client-node';
import { PodReason } from '../api/conditions.ts';
import { LocalEnv } from '../api/env.ts';
import { LocalSocketAnnotation, PortMapAnnotation } from '../api/local-ports.ts';
import type { Logger } from '../api/logger.ts';
import { parseQuantity } from '../api/quantity.ts';
import type { BackoffPolicy, RestartPolicy } from './backoff.ts';
import { isNotFound, isTerminal } from './claim-sync.ts';
import { podEventSink } from './events.ts';
import { confinementProblem } from './confine.ts';
import { imageStoreDir, LocalNodeName, LocalVolumePathAnnotation, podVolumeDir, terminationLogPath } from './layout.ts';
import { admitPod, objectsOf } from './pod-admission.ts';
import type { ObjectData } from './pod-env.ts';
import { ImageVolumePullError, pullImageVolume } from './image-volume.ts';
import { planPod, podReferences, portsToAllocate, type ClaimBinding, type PodPlan } from './pod-plan.ts';
import { PodRuntime, removePodDir } from './pod-runtime.ts';
import { giveTo, isRoot, privilegesFor, volumeGroup, type Privileges } from './worker-privileges.ts';
import { computePodStatus, type ContainerView, type PodView } from './pod-status.ts';
import { freePort } from './ports.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const configRetryMs = 2000;
/** The kubelet backs off failed pulls (ImagePullBackOff); a denied registry is not asked every sync. */
const imagePullRetryMs = 10_000;

export interface PodSyncOptions {
  core: CoreV1Api;
  dataDir: string;
  /** The directory of the pods' unix sockets (short: sun_path is 108 bytes); each pod gets its own below it. */
  socketDir: string;
  projectRoot: string;
  logger: Logger;
  backoff: BackoffPolicy;
  maxProbeIntervalMs: number;
  /** Upper bound on a pod's terminationGracePeriodSeconds when the agent itself shuts down. */
  shutdownGraceMs: number;
  pod: (namespace: string, name: string) => V1Pod | undefined;
  claim: (namespace: string, name: string) => V1PersistentVolumeClaim | undefined;
  /** Asks for a pod's sync to run again (later, when `afterMs` is given). */
  requeuePod: (key: string, afterMs?: number) => void;
  /** A pod consumes an unbound claim: WaitForFirstConsumer classes may bind now. */
  claimWanted: (namespace: string, name: string) => void;
}

interface Entry {
  runtime?: PodRuntime;
  uid: string;
  graceMs: number;
  /** Why the pod has no runtime yet, as the view its status is computed from. */
  pending?: PodView;
}

/** The kubelet's sync loop for the pods of this node, plus writing their status. */
export class PodSync {
  private readonly entries = new Map<string, Entry>();
  private readonly writer: StatusWriter;
  private readonly o: PodSyncOptions;

  constructor(o: PodSyncOptions) {
    this.o = o;
    this.writer = new StatusWriter(o.core, o.logger, (key) => this.statusFor(key));
  }

  async sync(key: string): Promise<void> {
    const [namespace = '', name = ''] = key.split('/');
    const pod = this.o.pod(namespace, name);
    let entry = this.entries.get(key);
    const replaced = entry !== undefined && pod !== undefined && pod.metadata?.uid !== entry.uid;
    if (entry && (!pod || replaced || pod.metadata?.deletionTimestamp)) {
      this.entries.delete(key);
      this.writer.forget(entry.uid);
      await entry.runtime?.stop(entry.graceMs);
      if (/^[\w-]+$/.test(entry.uid)) await fs.promises.rm(path.join(this.o.socketDir, entry.uid), { recursive: true, force: true });
      entry = undefined;
    }
    if (!pod || replaced) await removePodDir(this.o.dataDir, namespace, name);
    if (!pod) return;
    if (pod.metadata?.deletionTimestamp) {
      if (!pod.metadata.finalizers?.length) await this.o.core.deleteNamespacedPod({ namespace, name, gracePeriodSeconds: 0 }).catch(ignoreNotFound);
      return;
    }
    if (entry?.runtime || isTerminal(pod)) return;
    const uid = pod.metadata?.uid ?? '';
    const graceMs = (pod.spec?.terminationGracePeriodSeconds ?? 30) * 1000;
    const events = podEventSink(this.o.core, pod, this.o.logger);
    const hold = (pending: PodView, retryMs?: number) => {
      const said = entry?.pending ? JSON.stringify([entry.pending.unschedulable, entry.pending.containers[0]?.state]) : undefined;
      if (said !== JSON.stringify([pending.unschedulable, pending.containers[0]?.state])) {
        if (pending.unschedulable) events('Warning', 'FailedScheduling', pending.unschedulable.message);
        else events('Warning', 'Failed', `Error: ${(pending.containers[0]?.state as { waiting?: { message?: string } }).waiting?.message ?? ''}`);
      }
      this.entries.set(key, { uid, graceMs, pending });
      this.writer.publish(key);
      if (retryMs !== undefined) this.o.requeuePod(key, retryMs);
    };
    const restartPolicy = (pod.spec?.restartPolicy as RestartPolicy | undefined) ?? 'Always';
    const waitingAll = (reason: string, message?: string): ContainerView[] =>
      objectsOf<{ name?: unknown; image?: unknown }>(pod.spec?.containers).map((c) => ({
        name: String(c.name ?? ''),
        image: typeof c.image === 'string' ? c.image : '',
        restartCount: 0,
        ready: false,
        state: { waiting: { reason, ...(message ? { message } : {}) } },
      }));

    const admission = admitPod(pod);
    if (!admission.ok) {
      const waitingReason = admission.reason === PodReason.ErrImageNeverPull ? PodReason.ErrImageNeverPull : PodReason.CreateContainerConfigError;
      hold({ restartPolicy, unschedulable: { reason: PodReason.Unschedulable, message: admission.message }, containers: waitingAll(waitingReason, admission.message) });
      return;
    }
    const refs = podReferences(pod);
    const claims = new Map<string, ClaimBinding>();
    for (const claimName of refs.claims) {
      const claim = this.o.claim(namespace, claimName);
      const binding = claim ? bindingOf(claim) : undefined;
      if (!binding) {
        if (claim) this.o.claimWanted(namespace, claimName);
        const message = claim ? '0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.' : `persistentvolumeclaim "${claimName}" not found`;
        hold({ restartPolicy, unschedulable: { reason: PodReason.Unschedulable, message }, containers: waitingAll(PodReason.ContainerCreating) });
        return;
      }
      claims.set(claimName, binding);
    }
    const secrets = await this.readAll(namespace, refs.secrets, 'secret');
    const configMaps = await this.readAll(namespace, refs.configMaps, 'configmap');
    const hostPorts = await allocatePorts(pod);
    const result = planPod({
      pod,
      claims,
      secrets,
      configMaps,
      hostPorts,
      podVolumeDir: (v) => podVolumeDir(this.o.dataDir, namespace, name, v),
      terminationLogPath: (c) => terminationLogPath(this.o.dataDir, namespace, name, c),
      uploadSocketPath: path.join(this.o.socketDir, uid, 'upload.sock'),
      projectRoot: this.o.projectRoot,
      kvmGroup: await fs.promises.stat('/dev/kvm').then((st) => st.gid, () => undefined),
    });
    if (!result.ok) {
      hold({ restartPolicy, containers: waitingAll(result.reason, result.message) }, configRetryMs);
      return;
    }
    for (const dir of result.plan.dirs) await fs.promises.mkdir(dir, { recursive: true });
    for (const f of result.plan.files) {
      await fs.promises.mkdir(path.dirname(f.path), { recursive: true });
      await fs.promises.writeFile(f.path, f.data, { mode: f.mode });
    }
    for (const c of result.plan.confined) {
      const problem = await confinementProblem(c);
      if (problem) {
        hold({ restartPolicy, containers: waitingAll(PodReason.CreateContainerConfigError, problem) });
        return;
      }
    }
    for (const volume of result.plan.imageVolumes) {
      events('Normal', 'Pulling', `Pulling image "${volume.reference}" for volume ${volume.volume}`);
      try {
        const pullSecrets = objectsOf<{ name?: unknown }>(pod.spec?.imagePullSecrets).flatMap((ref) => {
          const data = typeof ref.name === 'string' ? secrets.get(ref.name) : undefined;
          return data ? [data] : [];
        });
        const pulled = await pullImageVolume({ ...volume, storeDir: imageStoreDir(this.o.dataDir), pullSecrets }, this.o.logger);
        for (const note of pulled.skipped) events('Warning', 'CredentialHelperSkipped', note);
        events('Normal', 'Pulled', pulled.pulled ? `Successfully pulled image "${volume.reference}" (${pulled.digest}) for volume ${volume.volume}` : `Image "${volume.reference}" (${pulled.digest}) already present on machine for volume ${volume.volume}`);
      } catch (err) {
        const skipped = err instanceof ImageVolumePullError && err.skipped.length ? ` (${err.skipped.join('; ')})` : '';
        const reason = err instanceof ImageVolumePullError && err.neverPull ? PodReason.ErrImageNeverPull : PodReason.ErrImagePull;
        hold({ restartPolicy, containers: waitingAll(reason, `image volume ${volume.volume} ${volume.reference}: ${(err as Error).message}${skipped}`) }, imagePullRetryMs);
        return;
      }
    }
    const socket = result.plan.containers.map((c) => c.env[LocalEnv.listenSocket]).find((s) => s !== undefined);
    const privileges = new Map<string, Privileges>();
    for (const c of result.plan.containers) {
      const p = await privilegesFor(c.user, this.o.dataDir);
      privileges.set(c.name, p);
      if (p.mode !== 'drop') events('Warning', 'PrivilegesNotDropped', `container ${c.name}: ${p.why}`);
    }
    await this.prepareOwnership(result.plan, privileges, socket);
    await this.assign(pod, hostPorts, socket);
    const runtime = new PodRuntime(pod, result.plan, {
      dataDir: this.o.dataDir,
      privileges,
      backoff: this.o.backoff,
      maxProbeIntervalMs: this.o.maxProbeIntervalMs,
      logger: this.o.logger,
      onChange: () => this.writer.publish(key),
      onEvent: events,
    });
    events('Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${LocalNodeName}`);
    this.entries.set(key, { uid, graceMs, runtime });
    this.writer.publish(key);
    runtime.start();
  }

  /** Stops every pod process (the agent is going away; pods are reconciled on the next start). */
  async close(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(all.map((e) => e.runtime?.stop(Math.min(e.graceMs, this.o.shutdownGraceMs))));
    await this.writer.close();
  }

  /**
   * What each container's user must own before it starts: its volumes (the kubelet's fsGroup
   * ownership) and its socket's directory. As root only; otherwise the agent's user owns all.
   */
  private async prepareOwnership(plan: PodPlan, privileges: ReadonlyMap<string, Privileges>, socket: string | undefined): Promise<void> {
    const socketDir = socket === undefined ? undefined : path.dirname(socket);
    if (socketDir) {
      await fs.promises.rm(socketDir, { recursive: true, force: true });
      await fs.promises.mkdir(socketDir, { mode: 0o700 });
    }
    if (!isRoot()) return;
    for (const c of plan.containers) {
      const p = privileges.get(c.name);
      if (p?.mode !== 'drop') continue;
      await giveTo(p.user, plan.ownedDirs, plan.ownedFiles);
      for (const dir of plan.dirs) if (!plan.ownedDirs.includes(dir)) await fs.promises.chown(dir, 0, volumeGroup(p.user));
      for (const f of plan.files) await fs.promises.chown(f.path, 0, volumeGroup(p.user));
      if (socketDir && c.env[LocalEnv.listenSocket]) await fs.promises.chown(socketDir, p.user.uid, p.user.gid);
    }
  }

  private statusFor(key: string): { pod: V1Pod; view: PodView } | undefined {
    const [namespace = '', name = ''] = key.split('/');
    const entry = this.entries.get(key);
    const pod = this.o.pod(namespace, name);
    if (!entry || !pod || pod.metadata?.uid !== entry.uid) return undefined;
    const view = entry.runtime ? entry.runtime.view() : entry.pending;
    return view ? { pod, view } : undefined;
  }

  private async readAll(namespace: string, names: ReadonlySet<string>, kind: 'secret' | 'configmap'): Promise<Map<string, ObjectData>> {
    const out = new Map<string, ObjectData>();
    for (const name of names) {
      try {
        const obj = kind === 'secret' ? await this.o.core.readNamespacedSecret({ namespace, name }) : await this.o.core.readNamespacedConfigMap({ namespace, name });
        out.set(name, objectData(obj as { data?: Record<string, string>; stringData?: Record<string, string>; binaryData?: Record<string, string> }, kind));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    return out;
  }

  /**
   * What the scheduler and the kubelet record on a pod here: the node it runs on and the host
   * ports of its container ports (and an upload server's socket). spec.nodeName is best effort
   * (a server that keeps spec immutable refuses it); the annotations are required, resolvers
   * depend on them.
   */
  private async assign(pod: V1Pod, hostPorts: ReadonlyMap<number, number>, socket: string | undefined): Promise<void> {
    const value = hostPorts.size ? JSON.stringify(Object.fromEntries(hostPorts)) : undefined;
    const annotations: Record<string, string> = {};
    if (value !== undefined && pod.metadata?.annotations?.[PortMapAnnotation] !== value) annotations[PortMapAnnotation] = value;
    if (socket !== undefined && pod.metadata?.annotations?.[LocalSocketAnnotation] !== socket) annotations[LocalSocketAnnotation] = socket;
    const needAnnotations = Object.keys(annotations).length > 0;
    const needNode = !pod.spec?.nodeName;
    if (!needAnnotations && !needNode) return;
    const target = { namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '' };
    const metadata = needAnnotations ? { annotations } : undefined;
    try {
      await this.o.core.patchNamespacedPod({ ...target, body: { ...(metadata ? { metadata } : {}), ...(needNode ? { spec: { nodeName: LocalNodeName } } : {}) } }, mergePatch);
    } catch (err) {
      if (!needNode || (err as { code?: number }).code !== 422) throw err;
      if (metadata) await this.o.core.patchNamespacedPod({ ...target, body: { metadata } }, mergePatch);
    }
  }
}

/** The local binding of a claim this agent bound, or undefined while it is not bound by us. */
export function bindingOf(claim: V1PersistentVolumeClaim): ClaimBinding | undefined {
  const path = claim.metadata?.annotations?.[LocalVolumePathAnnotation];
  if (claim.status?.phase !== 'Bound' || !path) return undefined;
  const capacity = parseQuantity(claim.status.capacity?.storage as string | undefined) ?? parseQuantity(claim.spec?.resources?.requests?.storage as string | undefined);
  return { path, block: claim.spec?.volumeMode === 'Block', capacityBytes: capacity ?? 0 };
}

/** Host ports for the pod's container ports, keeping the ones an earlier agent recorded. */
async function allocatePorts(pod: V1Pod): Promise<Map<number, number>> {
  let recorded: Record<string, number>;
  try {
    recorded = JSON.parse(pod.metadata?.annotations?.[PortMapAnnotation] ?? '{}') as Record<string, number>;
  } catch {
    recorded = {}; // a mangled annotation only costs the ports' stability across restarts
  }
  const out = new Map<number, number>();
  for (const p of portsToAllocate(pod)) out.set(p, await freePort(recorded[String(p)]));
  return out;
}

function objectData(obj: { data?: Record<string, string>; stringData?: Record<string, string>; binaryData?: Record<string, string> }, kind: 'secret' | 'configmap'): ObjectData {
  const out: ObjectData = {};
  for (const [k, v] of Object.entries(obj.data ?? {})) out[k] = kind === 'secret' ? Buffer.from(v, 'base64') : Buffer.from(v, 'utf8');
  for (const [k, v] of Object.entries(obj.binaryData ?? {})) out[k] = Buffer.from(v, 'base64');
  for (const [k, v] of Object.entries(obj.stringData ?? {})) out[k] = Buffer.from(v, 'utf8');
  return out;
}

function ignoreNotFound(err: unknown): void {
  if (!isNotFound(err)) throw err;
}

/**
 * Writes pod status through /status, one write in flight per pod, always the latest view, and
 * nothing when it did not change since the last write.
 */
class StatusWriter {
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private readonly last = new Map<string, string>();
  private closed = false;
  private readonly core: CoreV1Api;
  private readonly logger: Logger;
  private readonly source: (key: string) => { pod: V1Pod; view: PodView } | undefined;

  constructor(core: CoreV1Api, logger: Logger, source: (key: string) => { pod: V1Pod; view: PodView } | undefined) {
    this.core = core;
    this.logger = logger;
    this.source = source;
  }

  publish(key: string): void {
    if (this.closed) return;
    this.dirty.add(key);
    // drain starts on the next microtask, so its `finally` can never run before this set().
    if (!this.inFlight.has(key)) this.inFlight.set(key, Promise.resolve().then(() => this.drain(key)));
  }

  forget(uid: string): void {
    this.last.delete(uid);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.inFlight.values());
  }

  private async drain(key: string): Promise<void> {
    try {
      while (this.dirty.delete(key)) {
        const s = this.source(key);
        if (!s) continue;
        const status = computePodStatus(s.view, s.pod.status);
        const uid = s.pod.metadata?.uid ?? '';
        const text = JSON.stringify(status);
        if (this.last.get(uid) === text) continue;
        const [namespace = '', name = ''] = key.split('/');
        try {
          await this.core.patchNamespacedPodStatus({ namespace, name, body: { status } }, mergePatch);
          this.last.set(uid, text);
        } catch (err) {
          if (isNotFound(err)) continue;
          this.logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err, pod: key }, 'pod status write failed; retrying');
          if (!this.closed) setTimeout(() => this.publish(key), 1000).unref();
        }
      }
    } finally {
      this.inFlight.delete(key);
    }
  }
}
