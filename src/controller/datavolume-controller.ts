import { isDeepStrictEqual } from 'node:util';
import type { CoreV1Event, KubernetesObject, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { Ann } from '../api/annotations.ts';
import { CdiConfigName } from '../api/cdiconfig.ts';
import { ApiVersion, type DataVolume, type DataVolumeStatus } from '../api/datavolume.ts';
import { resolvePodPort } from '../api/local-ports.ts';
import type { Logger } from '../api/logger.ts';
import { isFinalPhase, Phase } from '../api/phases.ts';
import type { StorageProfile } from '../api/storageprofile.ts';
import type { UploadPki } from './certs.ts';
import { resolveDataSourceChain } from './datasource-chain.ts';
import { cdi, type Caches } from './informers.ts';
import { recordEvent } from './events.ts';
import { isConflict, isNotFound, type Kube } from './kube.ts';
import { clonerPodName, importerPodName, key, splitKey, uploadPodName, uploadSecretName, uploadServiceName } from './names.ts';
import { WorkerPort, type WorkerImageMap } from './pods.ts';
import { scrapeProgress } from './progress.ts';
import { reconcileDataVolume, reconcileUploadClaim, type Action, type Observed } from './reconcile.ts';
import { runWorkers, WorkQueue } from './workqueue.ts';
import { rfc3339 } from '../api/time.ts';

/**
 * Wires the pure DataVolume reconciler to the API: informer events feed a keyed work queue,
 * workers reconcile one DataVolume at a time, execute the actions and write `/status` (retrying
 * on conflict); a poller scrapes worker progress every `progressIntervalMs` while a transfer runs.
 */
export interface DataVolumeControllerOptions {
  kube: Kube;
  caches: Caches;
  pki: UploadPki;
  logger: Logger;
  images: WorkerImageMap;
  retryBudget: number;
  progressIntervalMs: number;
  workers: number;
  /** Importer and clone-source pods allowed to exist at once (upload servers wait for users and do not count). */
  maxRunningWorkers: number;
  /** The node agent of cdi serve runs the pods: volumes are files on its disk. */
  volumesOnNodeDisk: boolean;
}

const dvRef = cdi('datavolumes');
/** Queue keys of bare upload claims (no DataVolume) carry this prefix. */
const ClaimKeyPrefix = 'pvc:';
const InProgress = new Set<string>([Phase.ImportInProgress, Phase.CloneInProgress]);

export class DataVolumeController {
  readonly queue = new WorkQueue({ baseDelayMs: 50, maxDelayMs: 30_000 });
  private readonly progress = new Map<string, { percent?: number; stage?: string; bytes?: number }>();
  /** Status this controller wrote that the informer may not have delivered yet, by uid. */
  /** Worker pods created but not yet seen in the cache, so parallel reconciles do not overshoot the limit. */
  private readonly startedWorkers = new Map<string, number>();
  private readonly written = new Map<string, { resourceVersion: string; status: DataVolumeStatus }>();
  private progressTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  private readonly o: DataVolumeControllerOptions;

  constructor(options: DataVolumeControllerOptions) {
    this.o = options;
  }

  private enqueueAll(): void {
    for (const dv of this.o.caches.dataVolumes.list()) if (!isFinalPhase(dv.status?.phase)) this.queue.add(key(dv.metadata?.namespace, dv.metadata?.name));
  }

  /** DataVolume keys that care about a claim: its owner, and clones that read it; or the claim itself for a bare upload claim. */
  private keysForClaim(pvc: V1PersistentVolumeClaim): string[] {
    const ns = pvc.metadata?.namespace;
    const keys = (pvc.metadata?.ownerReferences ?? []).filter((r) => r.kind === 'DataVolume').map((r) => key(ns, r.name));
    if (keys.length === 0 && pvc.metadata?.annotations?.[Ann.uploadTarget] !== undefined) keys.push(ClaimKeyPrefix + key(ns, pvc.metadata?.name));
    for (const dv of this.o.caches.dataVolumes.list()) {
      const src = dv.spec?.source?.pvc;
      if (src && src.namespace === ns && src.name === pvc.metadata?.name) keys.push(key(dv.metadata?.namespace, dv.metadata?.name));
    }
    return keys;
  }

  private keysForPod(pod: V1Pod | KubernetesObject): string[] {
    const ns = pod.metadata?.namespace;
    const owners = (pod.metadata?.ownerReferences ?? [])
      .filter((r) => r.kind === 'PersistentVolumeClaim')
      .flatMap((r) => [key(ns, r.name), ...(this.o.caches.dataVolumes.get(r.name, ns) ? [] : [ClaimKeyPrefix + key(ns, r.name)])]);
    const forDv = pod.metadata?.annotations?.[Ann.createdForDataVolume] ?? pod.metadata?.labels?.['cdi.kubevirt.io/clone-target'];
    if (forDv) {
      for (const dv of this.o.caches.dataVolumes.list()) {
        const pvc = this.o.caches.claims.get(dv.metadata?.name ?? '', dv.metadata?.namespace);
        if (dv.metadata?.uid === forDv || pvc?.metadata?.uid === forDv) owners.push(key(dv.metadata?.namespace, dv.metadata?.name));
      }
    }
    return owners;
  }

  get maxRunningWorkers(): number {
    return this.o.maxRunningWorkers;
  }

  start(): void {
    const { caches } = this.o;
    const add = (keys: string[]) => keys.forEach((k) => this.queue.add(k));
    for (const verb of ['add', 'update'] as const) {
      caches.dataVolumes.on(verb, (dv) => this.queue.add(key(dv.metadata?.namespace, dv.metadata?.name)));
      caches.claims.on(verb, (pvc) => add(this.keysForClaim(pvc)));
      caches.pods.on(verb, (pod) => add(this.keysForPod(pod)));
      caches.secrets.on(verb, (s) => add(this.keysForPod(s)));
      caches.services.on(verb, (s) => add(this.keysForPod(s)));
      for (const c of [caches.storageClasses, caches.profiles, caches.configs, caches.dataSources] as const) {
        (c as Caches['configs']).on(verb, () => this.enqueueAll());
      }
    }
    caches.uploadFailures.on('add', (ev) => {
      if (ev.involvedObject.kind === 'DataVolume') this.queue.add(key(ev.involvedObject.namespace, ev.involvedObject.name));
    });
    caches.claims.on('delete', (pvc) => add(this.keysForClaim(pvc)));
    caches.pods.on('delete', (pod) => {
      add(this.keysForPod(pod));
      this.workerFinished(pod);
    });
    caches.pods.on('update', (pod) => {
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') this.workerFinished(pod);
    });
    caches.secrets.on('delete', (s) => add(this.keysForPod(s)));
    caches.dataVolumes.on('delete', (dv) => void this.cleanupClone(dv));
    this.running = runWorkers(this.queue, this.o.workers, (k) => this.handle(k));
    this.progressTimer = setInterval(() => void this.pollProgress(), this.o.progressIntervalMs);
    this.progressTimer.unref();
    this.enqueueAll();
  }

  async stop(): Promise<void> {
    if (this.progressTimer) clearInterval(this.progressTimer);
    this.queue.shutdown();
    await this.running;
  }

  private async handle(k: string): Promise<void> {
    try {
      await this.reconcile(k);
      this.queue.forget(k);
    } catch (err) {
      const delay = this.queue.addRateLimited(k);
      this.o.logger.warn({ code: 'CDI_ERR_RECONCILE', dataVolume: k, err: String(err), retryInMs: delay }, 'reconcile failed');
    }
  }

  private observe(dv: DataVolume): Observed {
    const { caches } = this.o;
    const ns = dv.metadata?.namespace ?? 'default';
    const name = dv.metadata?.name ?? '';
    const pvc = caches.claims.get(name, ns);
    const upload = Boolean(dv.spec?.source?.upload || dv.spec?.source?.pvc || dv.spec?.sourceRef);
    const pod = caches.pods.get(upload ? uploadPodName(name) : importerPodName(name), ns);
    let dataSource: Observed['dataSource'];
    let sourceRef = dv.spec?.source?.pvc;
    if (dv.spec?.sourceRef) {
      const dsNs = dv.spec.sourceRef.namespace || ns;
      const found = caches.dataSources.get(dv.spec.sourceRef.name, dsNs);
      // A DataSource → DataSource reference clones from what the chain ends at.
      const chain = found ? resolveDataSourceChain(found, (n, s) => caches.dataSources.get(n, s)) : undefined;
      dataSource = chain && 'resolved' in chain ? chain.resolved : (found ?? null);
      const p = dataSource?.spec?.source?.pvc;
      sourceRef = p ? { namespace: p.namespace || dsNs, name: p.name } : undefined;
    }
    const sourcePvc = sourceRef ? (caches.claims.get(sourceRef.name, sourceRef.namespace) ?? null) : undefined;
    const clonerName = pvc?.metadata?.uid ? clonerPodName(pvc.metadata.uid) : undefined;
    const clonerPod = clonerName && sourceRef ? caches.pods.get(clonerName, sourceRef.namespace) : undefined;
    const addr = pod && upload ? resolvePodPort(pod, WorkerPort) : undefined;
    const profiles = new Map<string, StorageProfile>(caches.profiles.list().map((p) => [p.metadata?.name ?? '', p]));
    return {
      ...(pvc ? { pvc } : {}),
      ...(pod ? { pod } : {}),
      ...(caches.services.get(uploadServiceName(name), ns) ? { service: caches.services.get(uploadServiceName(name), ns)! } : {}),
      secretExists: Boolean(caches.secrets.get(uploadSecretName(name), ns)),
      storageClasses: caches.storageClasses.list(),
      profiles,
      ...(caches.configs.get(CdiConfigName) ? { config: caches.configs.get(CdiConfigName)! } : {}),
      ...(sourcePvc !== undefined ? { sourcePvc } : {}),
      ...(clonerPod ? { clonerPod } : {}),
      cloneSecretExists: Boolean(clonerName && sourceRef && caches.secrets.get(clonerName, sourceRef.namespace)),
      ...(dataSource !== undefined ? { dataSource } : {}),
      ...(addr ? { uploadUrl: `https://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}/v1beta1/upload` } : {}),
      ...(this.progress.has(dv.metadata?.uid ?? '') ? { progress: this.progress.get(dv.metadata?.uid ?? '')! } : {}),
      ...lastUploadFailure(caches.uploadFailures.list(ns), dv.metadata?.uid),
      ...(this.workerSlotFree() ? {} : { noWorkerSlot: `waiting for a free worker: ${this.o.maxRunningWorkers} importer or clone pods are running` }),
    };
  }

  /** A worker slot may have freed: DataVolumes waiting for one get another look. */
  private workerFinished(pod: V1Pod): void {
    if (!Number.isFinite(this.o.maxRunningWorkers)) return;
    const component = pod.metadata?.labels?.['cdi.kubevirt.io'];
    if (component === 'importer' || component === 'cdi-clone-source') this.enqueueAll();
  }

  /** Counts live importer and clone-source pods (cached, plus just created) against the limit. */
  private workerSlotFree(): boolean {
    if (!Number.isFinite(this.o.maxRunningWorkers)) return true;
    const live = new Set<string>();
    for (const pod of this.o.caches.pods.list()) {
      const component = pod.metadata?.labels?.['cdi.kubevirt.io'];
      if (component !== 'importer' && component !== 'cdi-clone-source') continue;
      if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') continue;
      live.add(key(pod.metadata?.namespace, pod.metadata?.name));
    }
    const now = Date.now();
    for (const [k, at] of this.startedWorkers) {
      if (live.has(k) || now - at > 10_000) this.startedWorkers.delete(k);
      else live.add(k);
    }
    return live.size < this.o.maxRunningWorkers;
  }

  private async reconcile(k: string): Promise<void> {
    if (k.startsWith(ClaimKeyPrefix)) return this.reconcileClaim(k.slice(ClaimKeyPrefix.length));
    const { namespace, name } = splitKey(k);
    const cached = this.o.caches.dataVolumes.get(name, namespace);
    if (!cached || cached.metadata?.deletionTimestamp) return;
    const dv = this.withOwnWrites(cached);
    const decision = reconcileDataVolume(dv, this.observe(dv), { images: this.o.images, retryBudget: this.o.retryBudget, now: rfc3339(), volumesOnNodeDisk: this.o.volumesOnNodeDisk });
    for (const action of decision.actions) await this.execute(dv, action);
    if (!isDeepStrictEqual(normalise(dv.status), normalise(decision.status))) await this.writeStatus(dv, decision.status);
    if (isFinalPhase(decision.status.phase)) this.progress.delete(dv.metadata?.uid ?? '');
  }

  private async reconcileClaim(k: string): Promise<void> {
    const { namespace, name } = splitKey(k);
    const { caches } = this.o;
    const pvc = caches.claims.get(name, namespace);
    if (!pvc || pvc.metadata?.deletionTimestamp || caches.dataVolumes.get(name, namespace)) return;
    if (pvc.metadata?.annotations?.[Ann.uploadTarget] === undefined) return;
    const pod = caches.pods.get(uploadPodName(name), namespace);
    const observed: Observed = {
      pvc,
      ...(pod ? { pod } : {}),
      ...(caches.services.get(uploadServiceName(name), namespace) ? { service: caches.services.get(uploadServiceName(name), namespace)! } : {}),
      secretExists: Boolean(caches.secrets.get(uploadSecretName(name), namespace)),
      storageClasses: caches.storageClasses.list(),
      profiles: new Map(),
      ...(caches.configs.get(CdiConfigName) ? { config: caches.configs.get(CdiConfigName)! } : {}),
    };
    const actions = reconcileUploadClaim(pvc, observed, { images: this.o.images, retryBudget: this.o.retryBudget, now: rfc3339(), volumesOnNodeDisk: this.o.volumesOnNodeDisk });
    const owner = { metadata: { name, namespace, uid: pvc.metadata?.uid ?? '' } } as DataVolume;
    for (const action of actions) if (action.kind !== 'event') await this.execute(owner, action);
  }

  /**
   * A reconcile that runs before the watch delivers this controller's last status write must not
   * decide from the older status (it would announce the same phase change twice).
   */
  private withOwnWrites(dv: DataVolume): DataVolume {
    const uid = dv.metadata?.uid ?? '';
    const mine = this.written.get(uid);
    if (!mine) return dv;
    const seen = dv.metadata?.resourceVersion ?? '';
    const caughtUp = seen === mine.resourceVersion || (/^\d+$/.test(seen) && /^\d+$/.test(mine.resourceVersion) && BigInt(seen) > BigInt(mine.resourceVersion));
    if (caughtUp) {
      this.written.delete(uid);
      return dv;
    }
    return { ...dv, status: mine.status };
  }

  private async writeStatus(dv: DataVolume, status: DataVolumeStatus): Promise<void> {
    const ns = dv.metadata?.namespace ?? 'default';
    const name = dv.metadata?.name ?? '';
    let current: DataVolume = dv;
    for (let attempt = 0; ; attempt++) {
      try {
        const saved = await this.o.kube.replaceStatus<DataVolume>(dvRef, ns, name, { ...current, status });
        const rv = saved.metadata?.resourceVersion;
        if (rv) this.written.set(dv.metadata?.uid ?? '', { resourceVersion: rv, status });
        return;
      } catch (err) {
        if (isNotFound(err)) return;
        if (!isConflict(err) || attempt >= 4) throw err;
        current = await this.o.kube.getCustom<DataVolume>(dvRef, ns, name);
        if (current.metadata?.uid !== dv.metadata?.uid) return;
      }
    }
  }

  private async execute(dv: DataVolume, a: Action): Promise<void> {
    const { kube, logger } = this.o;
    const core = kube.core;
    const log = logger.child({ dataVolume: key(dv.metadata?.namespace, dv.metadata?.name) });
    switch (a.kind) {
      case 'createClaim':
        log.info({ claim: a.claim.metadata?.name }, 'creating claim');
        return kube.ensure(() => core.createNamespacedPersistentVolumeClaim({ namespace: a.claim.metadata?.namespace ?? '', body: a.claim }));
      case 'createPod':
        log.info({ pod: a.pod.metadata?.name, namespace: a.pod.metadata?.namespace }, 'creating worker pod');
        if (a.pod.metadata?.labels?.['cdi.kubevirt.io'] !== 'cdi-upload-server') this.startedWorkers.set(key(a.pod.metadata?.namespace, a.pod.metadata?.name), Date.now());
        return kube.ensure(() => core.createNamespacedPod({ namespace: a.pod.metadata?.namespace ?? '', body: a.pod }));
      case 'deletePod':
        log.info({ pod: a.name, namespace: a.namespace }, 'deleting worker pod');
        return kube.remove(() => core.deleteNamespacedPod({ name: a.name, namespace: a.namespace }));
      case 'createService':
        return kube.ensure(() => core.createNamespacedService({ namespace: a.service.metadata?.namespace ?? '', body: a.service }));
      case 'serverCert': {
        const owner = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: a.owner.metadata?.name ?? '', uid: a.owner.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true };
        const body = await this.o.pki.serverSecret(a.namespace, a.secret, a.service, owner);
        return kube.ensure(() => core.createNamespacedSecret({ namespace: a.namespace, body }));
      }
      case 'clientCert': {
        const body = await this.o.pki.clientSecret(a.namespace, a.secret, a.commonName, {});
        body.metadata!.annotations = { [Ann.createdForDataVolume]: dv.metadata?.uid ?? '' };
        return kube.ensure(() => core.createNamespacedSecret({ namespace: a.namespace, body }));
      }
      case 'deleteSecret':
        return kube.remove(() => core.deleteNamespacedSecret({ name: a.name, namespace: a.namespace }));
      case 'annotateClaim':
        return kube.remove(() => kube.mergePatchPvc(a.namespace, a.name, { metadata: { annotations: a.annotations } }));
      case 'labelClaim':
        return kube.remove(() => kube.mergePatchPvc(a.namespace, a.name, { metadata: { labels: a.labels } }));
      case 'event':
        return this.event(dv, a.type, a.reason, a.message);
    }
  }

  /** A worker pod or secret left behind is not fatal to the deletion, but someone should hear of it. */
  private cleanupFailed(kind: string, obj: KubernetesObject): (err: unknown) => void {
    return (err) => {
      const what = `${kind} ${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
      this.o.logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err), object: what }, 'cannot delete what a DataVolume left behind');
    };
  }

  private async event(dv: DataVolume, type: string, reason: string, message: string): Promise<void> {
    try {
      await recordEvent(this.o.kube, 'datavolume-controller', { apiVersion: ApiVersion, kind: 'DataVolume', metadata: dv.metadata }, type, reason, message);
    } catch (err) {
      if (!isNotFound(err)) this.o.logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err), reason }, 'event not recorded');
    }
  }

  /** A clone's source pod and secret live in the source namespace, out of reach of owner references. */
  private async cleanupClone(dv: DataVolume): Promise<void> {
    const uid = dv.metadata?.uid;
    if (!uid) return;
    this.written.delete(uid);
    this.progress.delete(uid);
    for (const pod of this.o.caches.pods.list()) {
      if (pod.metadata?.annotations?.[Ann.createdForDataVolume] !== uid) continue;
      const ns = pod.metadata.namespace ?? '';
      await this.o.kube.remove(() => this.o.kube.core.deleteNamespacedPod({ name: pod.metadata?.name ?? '', namespace: ns })).catch(this.cleanupFailed('Pod', pod));
    }
    for (const s of this.o.caches.secrets.list()) {
      if (s.metadata?.annotations?.[Ann.createdForDataVolume] !== uid) continue;
      await this.o.kube.remove(() => this.o.kube.core.deleteNamespacedSecret({ name: s.metadata?.name ?? '', namespace: s.metadata?.namespace ?? '' })).catch(this.cleanupFailed('Secret', s));
    }
  }

  private async pollProgress(): Promise<void> {
    const { caches } = this.o;
    await Promise.all(
      caches.dataVolumes.list().map(async (dv) => {
        if (!InProgress.has(dv.status?.phase ?? '')) return;
        const ns = dv.metadata?.namespace ?? 'default';
        const name = dv.metadata?.name ?? '';
        const uid = dv.metadata?.uid ?? '';
        let pod = caches.pods.get(importerPodName(name), ns);
        if (dv.status?.phase === Phase.CloneInProgress) {
          const pvc = caches.claims.get(name, ns);
          const src = dv.spec?.source?.pvc;
          pod = pvc?.metadata?.uid && src ? caches.pods.get(clonerPodName(pvc.metadata.uid), src.namespace) : undefined;
        }
        if (!pod) return;
        const scraped = await scrapeProgress(pod, uid);
        if (!scraped || isDeepStrictEqual(scraped, this.progress.get(uid))) return;
        this.progress.set(uid, scraped);
        this.queue.add(key(ns, name));
      }),
    );
  }
}

/** Status comparison ignores key order and undefined members. */
function normalise(status: DataVolumeStatus | undefined): unknown {
  return JSON.parse(JSON.stringify(status ?? {}));
}

/** The newest UploadFailed event's text about the DataVolume with this uid. */
function lastUploadFailure(events: readonly CoreV1Event[], uid: string | undefined): { uploadFailure?: string } {
  const time = (ev: CoreV1Event) => new Date(ev.lastTimestamp ?? ev.eventTime ?? ev.metadata.creationTimestamp ?? 0).getTime();
  const newest = events.filter((ev) => uid && ev.involvedObject.uid === uid).sort((a, b) => time(b) - time(a))[0];
  return newest?.message ? { uploadFailure: newest.message } : {};
}
