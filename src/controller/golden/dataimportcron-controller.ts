import { isDeepStrictEqual } from 'node:util';
import type { KubernetesObject, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { Ann } from '../../api/annotations.ts';
import { CdiConfigName } from '../../api/cdiconfig.ts';
import type { DataImportCron } from '../../api/dataimportcron.ts';
import type { DataSource } from '../../api/datasource.ts';
import { ApiVersion, type DataVolume } from '../../api/datavolume.ts';
import { asCdiError } from '../../api/errors.ts';
import type { DigestPollOptions, ImageDigestPoller } from '../../api/image-digest.ts';
import type { Logger } from '../../api/logger.ts';
import { Phase } from '../../api/phases.ts';
import { rfc3339 } from '../../api/time.ts';
import { recordEvent } from '../events.ts';
import { cdi, type Caches } from '../informers.ts';
import { isConflict, isNotFound, type Kube } from '../kube.ts';
import { key, splitKey } from '../names.ts';
import { isInsecureRegistry } from '../pods.ts';
import { runWorkers, WorkQueue } from '../workqueue.ts';
import { conditionOf, CronReason, setCondition } from './cron-conditions.ts';
import { CronAnn, CronCleanupLabel, CronLabel, cronResourceLabels, DefaultImportsToKeep, deleteCronOutdated, importName, setCronOutdated } from './cron-meta.ts';
import { parseSchedule } from './cron-schedule.ts';
import { digestedUrl } from './cron-meta.ts';

/**
 * CDI's DataImportCron controller ("golden images"): polls the template's registry tag on the
 * cron schedule (the first poll right after creation), makes one DataVolume per new digest,
 * points the managed DataSource at the newest import that Succeeded, and garbage-collects
 * imports past `importsToKeep`. The poll is an HTTP request made here, not a worker pod; the
 * wait until the next poll is a timer on the work queue, so no worker slot is held meanwhile.
 * A failed poll or import leaves the DataSource where it was and says why (conditions, events).
 */
export interface DataImportCronControllerOptions {
  kube: Kube;
  caches: Caches;
  logger: Logger;
  /** The clock schedules are evaluated on (tests inject one). */
  now?: () => Date;
  /** Concurrent cron reconciles. */
  workers?: number;
  pollTimeoutMs?: number;
  /** Asks a registry for a tag's digest; without one, registry crons say they cannot be polled. */
  pollDigest?: ImageDigestPoller;
}

const cronRef = cdi('dataimportcrons');
const dsRef = cdi('datasources');
const dvRef = cdi('datavolumes');
const EventComponent = 'dataimportcron-controller';

type Status = NonNullable<DataImportCron['status']>;
type Conditions = NonNullable<Status['conditions']>;

interface PollOutcome {
  error?: string;
}

export class DataImportCronController {
  readonly queue = new WorkQueue({ baseDelayMs: 200, maxDelayMs: 60_000 });
  private readonly o: DataImportCronControllerOptions;
  private readonly now: () => Date;
  private running: Promise<void> | undefined;

  constructor(options: DataImportCronControllerOptions) {
    this.o = options;
    this.now = options.now ?? (() => new Date());
  }

  start(): void {
    const { caches } = this.o;
    const enqueueCron = (c: KubernetesObject) => this.queue.add(key(c.metadata?.namespace, c.metadata?.name));
    const enqueueOwner = (o: KubernetesObject) => {
      const cron = o.metadata?.labels?.[CronLabel];
      if (cron) this.queue.add(key(o.metadata?.namespace, cron));
    };
    for (const verb of ['add', 'update', 'delete'] as const) {
      caches.dataImportCrons.on(verb, enqueueCron);
      caches.dataVolumes.on(verb, enqueueOwner);
      caches.claims.on(verb, enqueueOwner);
      caches.dataSources.on(verb, enqueueOwner);
    }
    this.running = runWorkers(this.queue, this.o.workers ?? 4, (k) => this.handle(k));
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await this.running;
  }

  private async handle(k: string): Promise<void> {
    try {
      const delay = await this.reconcile(k);
      this.queue.forget(k);
      if (delay !== undefined) this.queue.addAfter(k, delay);
    } catch (err) {
      if (isConflict(err)) {
        this.queue.add(k);
        return;
      }
      const delay = this.queue.addRateLimited(k);
      this.o.logger.warn({ code: 'CDI_ERR_RECONCILE', cron: k, err: String(err), retryInMs: delay }, 'DataImportCron reconcile failed');
    }
  }

  /** One pass over a cron; returns how long until it wants to run again (its next poll). */
  async reconcile(k: string): Promise<number | undefined> {
    const { namespace, name } = splitKey(k);
    // The cron is read live, not from the cache: the cache lags this controller's own last write,
    // and a pass over an older status would collect or repoint by imports that are no longer current.
    const cron = await this.readCron(namespace, name);
    if (!cron || cron.metadata?.deletionTimestamp) {
      await this.cleanup(namespace, name);
      return undefined;
    }
    if (!(await this.mayManage(cron))) return undefined;
    const before = structuredClone(cron);
    const now = this.now();
    const stamp = rfc3339(now);
    const status: Status = cron.status ?? {};
    cron.status = status;
    const conditions: Conditions = (status.conditions ??= []);
    const annotations = (cron.metadata!.annotations ??= {});
    let imports = [...(status.currentImports ?? [])];
    const refusal = this.refusal(cron);

    // Where the current import stands.
    const current = imports[0];
    const dv = current ? this.o.caches.dataVolumes.get(current.DataVolumeName ?? '', namespace) : undefined;
    const claim = current ? this.o.caches.claims.get(current.DataVolumeName ?? '', namespace) : undefined;
    let succeeded = false;
    if (dv) {
      const phase = dv.status?.phase ?? '';
      if (phase === Phase.Succeeded) succeeded = true;
      else if (phase === Phase.ImportScheduled) setCondition(conditions, 'Progressing', 'False', 'Import is scheduled', CronReason.ImportScheduled, stamp);
      else if (phase === Phase.ImportInProgress) setCondition(conditions, 'Progressing', 'True', 'Import is progressing', CronReason.ImportProgressing, stamp);
      else setCondition(conditions, 'Progressing', 'False', `Import DataVolume phase ${phase}`, phase, stamp);
      if (phase === Phase.Failed && conditionOf(before.status, 'Progressing')?.reason !== Phase.Failed) {
        const why = dv.status?.conditions?.find((c) => c.type === 'Running')?.message ?? 'the import failed';
        await this.event(cron, 'Warning', 'ImportFailed', `Import ${dv.metadata?.name} failed: ${why}; DataSource ${cron.spec?.managedDataSource} stays on the last good import`);
      }
    } else if (claim?.status?.phase === 'Bound') {
      succeeded = true;
    } else {
      if (imports.length > 0) imports = imports.slice(1);
      setCondition(conditions, 'Progressing', 'False', 'No current import', CronReason.NoImport, stamp);
    }

    if (succeeded && current) {
      setCondition(conditions, 'Progressing', 'False', 'No current import', CronReason.NoImport, stamp);
      const last = { namespace, name: current.DataVolumeName ?? '' };
      if (!isDeepStrictEqual(status.lastImportedPVC, last)) {
        status.lastImportedPVC = last;
        status.lastImportTimestamp = stamp;
        await this.touchClaim(cron, last.name, now);
        await this.event(cron, 'Normal', 'ImportSucceeded', `DataSource ${cron.spec?.managedDataSource} now points at ${last.name} (${current.Digest})`);
      }
      await this.garbageCollect(cron, last.name);
    }
    await this.updateDataSource(cron);

    // Poll when due.
    let poll: PollOutcome | undefined;
    let nextDelay: number | undefined;
    const schedule = cron.spec?.schedule ?? '';
    if (!refusal && schedule !== '') {
      const parsed = parseSchedule(schedule);
      const due = Date.parse(annotations[CronAnn.nextCronTime] ?? '');
      if (!Number.isFinite(due) || due <= now.getTime()) {
        poll = await this.poll(cron, now);
        const next = parsed.next(now);
        if (next) annotations[CronAnn.nextCronTime] = rfc3339(next);
        else delete annotations[CronAnn.nextCronTime];
      }
      const next = Date.parse(annotations[CronAnn.nextCronTime] ?? '');
      if (Number.isFinite(next)) nextDelay = Math.max(0, next - now.getTime());
    }

    const desired = annotations[CronAnn.desiredDigest] ?? '';
    const digestUpdated = desired !== '' && (imports.length === 0 || desired !== imports[0]?.Digest);
    if (refusal) {
      setCondition(conditions, 'UpToDate', 'False', refusal, CronReason.NotSupported, stamp);
      setCondition(conditions, 'Progressing', 'False', refusal, CronReason.NotSupported, stamp);
    } else if (poll === undefined && !digestUpdated && conditionOf(before.status, 'UpToDate')?.reason === CronReason.DigestPollFailed) {
      // The last poll failed: that stays said until a poll succeeds.
    } else if (poll?.error !== undefined) {
      const where = status.lastImportedPVC ? `; DataSource ${cron.spec?.managedDataSource} stays on ${status.lastImportedPVC.name}` : '';
      setCondition(conditions, 'UpToDate', 'False', `Cannot poll the source digest: ${poll.error}${where}`, CronReason.DigestPollFailed, stamp);
    } else if (digestUpdated) {
      setCondition(conditions, 'UpToDate', 'False', 'Source digest updated since last import', CronReason.Outdated, stamp);
      if (dv?.status?.phase === Phase.Failed) {
        await this.o.kube.remove(() => this.o.kube.custom.deleteNamespacedCustomObject({ ...dvRef, namespace, name: dv.metadata?.name ?? '' }));
        imports = [];
      }
      if (succeeded || imports.length === 0) imports = await this.createImport(cron, desired, now);
    } else if (succeeded) {
      status.sourceFormat = 'pvc';
      setCondition(conditions, 'UpToDate', 'True', 'Latest import is up to date', CronReason.UpToDate, stamp);
    } else if (imports.length > 0) {
      setCondition(conditions, 'UpToDate', 'False', 'Import is progressing', CronReason.ImportProgressing, stamp);
    } else {
      setCondition(conditions, 'UpToDate', 'False', 'No source digest', CronReason.NoDigest, stamp);
    }
    status.currentImports = imports;
    if (annotations[CronAnn.lastCronTime]) status.lastExecutionTimestamp = annotations[CronAnn.lastCronTime];
    setCronOutdated(namespace, name, conditionOf(status, 'UpToDate')?.status !== 'True');
    await this.write(before, cron);
    return nextDelay;
  }

  private async readCron(namespace: string, name: string): Promise<(DataImportCron & KubernetesObject) | undefined> {
    try {
      return await this.o.kube.getCustom<DataImportCron & KubernetesObject>(cronRef, namespace, name);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Why this cron cannot be acted on, or undefined; said in its conditions, never silently skipped. */
  private refusal(cron: DataImportCron): string | undefined {
    const source = cron.spec?.template?.spec?.source;
    if (source?.registry?.imageStream) return 'imageStream sources need OpenShift\'s image registry, which is not available here; use url: docker://…';
    if (!source?.registry?.url && !source?.pvc) return 'the template needs a registry url or a pvc source to poll';
    if (source.registry?.url && !this.o.pollDigest) return 'this controller was started without a registry client and cannot poll registries';
    if (source.registry?.url && !source.registry.url.startsWith('docker://')) return `registry url ${source.registry.url} cannot be polled: only docker:// is`;
    try {
      if (cron.spec?.schedule) parseSchedule(cron.spec.schedule);
    } catch (err) {
      return asCdiError(err).message;
    }
    return undefined;
  }

  /** Upstream refuses to manage a DataSource another existing cron manages (ErrDataSourceAlreadyManaged). */
  private async mayManage(cron: DataImportCron): Promise<boolean> {
    const ns = cron.metadata?.namespace ?? '';
    const ds = this.o.caches.dataSources.get(cron.spec?.managedDataSource ?? '', ns);
    const owner = ds?.metadata?.labels?.[CronLabel];
    if (!owner || owner === cron.metadata?.name) return true;
    const other = this.o.caches.dataImportCrons.get(owner, ns);
    if (other?.spec?.managedDataSource !== cron.spec?.managedDataSource) return true;
    const message = `DataSource ${ds?.metadata?.name} is already managed by DataImportCron ${owner}`;
    if (cron.status?.conditions?.find((c) => c.type === 'Progressing')?.message !== message) {
      await this.event(cron, 'Warning', 'ErrDataSourceAlreadyManaged', message);
      const copy = structuredClone(cron);
      const conditions = ((copy.status ??= {}).conditions ??= []);
      setCondition(conditions, 'Progressing', 'False', message, 'ErrDataSourceAlreadyManaged', rfc3339(this.now()));
      await this.o.kube.custom.replaceNamespacedCustomObjectStatus({ ...cronRef, namespace: ns, name: cron.metadata?.name ?? '', body: copy });
    }
    return false;
  }

  /** Asks the registry (or, for a pvc source, the claim's uid) for the current digest. */
  private async poll(cron: DataImportCron & KubernetesObject, now: Date): Promise<PollOutcome> {
    const ns = cron.metadata?.namespace ?? '';
    const annotations = cron.metadata!.annotations!;
    const source = cron.spec?.template?.spec?.source;
    let digest: string;
    try {
      if (source?.pvc) {
        const uid = this.o.caches.claims.get(source.pvc.name, source.pvc.namespace || ns)?.metadata?.uid;
        if (!uid) throw new Error(`source PVC ${source.pvc.namespace || ns}/${source.pvc.name} not found`);
        digest = `uid:${uid}`;
      } else {
        digest = await this.o.pollDigest!(source?.registry?.url ?? '', await this.pollOptions(cron));
      }
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.o.logger.warn({ cron: key(ns, cron.metadata?.name), err: message }, 'source digest poll failed');
      if (conditionOf(cron.status, 'UpToDate')?.reason !== CronReason.DigestPollFailed) {
        await this.event(cron, 'Warning', CronReason.DigestPollFailed, `Cannot poll the source digest: ${message}`);
      }
      return { error: message };
    }
    annotations[CronAnn.lastCronTime] = rfc3339(now);
    if (annotations[CronAnn.desiredDigest] !== digest) {
      this.o.logger.info({ cron: key(ns, cron.metadata?.name), digest }, 'source digest changed');
      annotations[CronAnn.desiredDigest] = digest;
    }
    return {};
  }

  private async pollOptions(cron: DataImportCron): Promise<DigestPollOptions> {
    const ns = cron.metadata?.namespace ?? '';
    const registry = cron.spec?.template?.spec?.source?.registry;
    const options: DigestPollOptions = {
      insecure: isInsecureRegistry(registry?.url, this.o.caches.configs.get(CdiConfigName)),
      ...(this.o.pollTimeoutMs ? { timeoutMs: this.o.pollTimeoutMs } : {}),
    };
    if (registry?.secretRef) {
      const data = this.o.caches.secrets.get(registry.secretRef, ns)?.data;
      if (!data) throw new Error(`secret ${ns}/${registry.secretRef} not found`);
      const decode = (k: string) => Buffer.from(data[k] ?? '', 'base64').toString('utf8');
      options.credentials = { user: decode('accessKeyId'), password: decode('secretKey') };
    } else if (registry?.pullMethod === 'node') {
      // The import is pulled with the node's credentials; the poll asks with this machine's (in cdi serve, the node).
      options.machineCredentials = true;
    }
    if (registry?.certConfigMap) {
      const cm = await this.o.kube.core.readNamespacedConfigMap({ name: registry.certConfigMap, namespace: ns });
      options.caFiles = cm.data ?? {};
    }
    return options;
  }

  /** One DataVolume per digest, named `<dataSource>-<12 hex>`; an existing claim of that name is reused, never imported twice. */
  private async createImport(cron: DataImportCron, digest: string, now: Date): Promise<NonNullable<Status['currentImports']>> {
    const ns = cron.metadata?.namespace ?? '';
    const name = importName(cron.spec?.managedDataSource ?? '', digest);
    if (!name) return [];
    const imports = [{ DataVolumeName: name, Digest: digest }];
    if (this.o.caches.claims.get(name, ns) || this.o.caches.dataVolumes.get(name, ns)) {
      await this.touchClaim(cron, name, now);
      return imports;
    }
    const template = structuredClone(cron.spec?.template ?? {});
    const spec = template.spec ?? {};
    const registry = spec.source?.registry;
    if (registry?.url) registry.url = digestedUrl(registry.url, digest);
    const body: DataVolume = {
      apiVersion: ApiVersion,
      kind: 'DataVolume',
      metadata: {
        ...template.metadata,
        name,
        namespace: ns,
        labels: { ...template.metadata?.labels, ...cronResourceLabels(cron) },
        annotations: {
          ...template.metadata?.annotations,
          [Ann.immediateBinding]: 'true',
          [CronAnn.lastUseTime]: now.toISOString(),
          ...(cron.metadata?.annotations?.[Ann.retainAfterCompletion] ? { [Ann.retainAfterCompletion]: cron.metadata.annotations[Ann.retainAfterCompletion] } : {}),
        },
      },
      spec,
    };
    await this.o.kube.ensure(() => this.o.kube.createCustom(dvRef, ns, body));
    this.o.logger.info({ cron: key(ns, cron.metadata?.name), dataVolume: name, digest }, 'import DataVolume created');
    return imports;
  }

  /** Marks a claim as the newest in use (garbage collection keeps the newest) and labels it as the cron's. */
  private async touchClaim(cron: DataImportCron, name: string, now: Date): Promise<void> {
    const ns = cron.metadata?.namespace ?? '';
    if (!this.o.caches.claims.get(name, ns)) return;
    await this.o.kube.remove(() => this.o.kube.mergePatchPvc(ns, name, { metadata: { labels: cronResourceLabels(cron), annotations: { [CronAnn.lastUseTime]: now.toISOString() } } }));
  }

  /** `garbageCollect: Outdated` keeps the `importsToKeep` most recently used imports; the one in use and running ones always stay. */
  private async garbageCollect(cron: DataImportCron, inUse: string): Promise<void> {
    if (cron.spec?.garbageCollect === 'Never') return;
    const ns = cron.metadata?.namespace ?? '';
    const keep = cron.spec?.importsToKeep !== undefined && cron.spec.importsToKeep >= 0 ? cron.spec.importsToKeep : DefaultImportsToKeep;
    // The one in use first, then newest use; creation order breaks ties (two imports stamped within one clock tick).
    const lastUse = (c: V1PersistentVolumeClaim) => `${c.metadata?.annotations?.[CronAnn.lastUseTime] ?? ''} ${new Date(c.metadata?.creationTimestamp ?? 0).toISOString()}`;
    const isInUse = (c: V1PersistentVolumeClaim) => (c.metadata?.name === inUse ? 1 : 0);
    // A running import is never outdated: its claim carries a last-use time from creation, but its DataVolume has not Succeeded.
    const running = (c: V1PersistentVolumeClaim) => {
      const dv = this.o.caches.dataVolumes.get(c.metadata?.name ?? '', ns);
      return dv !== undefined && dv.status?.phase !== Phase.Succeeded;
    };
    const claims = this.o.caches.claims
      .list(ns)
      .filter((c) => c.metadata?.labels?.[CronLabel] === cron.metadata?.name && c.metadata?.annotations?.[CronAnn.lastUseTime] !== undefined)
      .sort((a, b) => isInUse(b) - isInUse(a) || lastUse(b).localeCompare(lastUse(a)));
    for (const claim of claims.slice(keep)) {
      const name = claim.metadata?.name ?? '';
      if (name === inUse || running(claim)) continue;
      this.o.logger.info({ cron: key(ns, cron.metadata?.name), import: name }, 'garbage-collecting outdated import');
      await this.deleteImport(ns, name);
    }
  }

  private async deleteImport(ns: string, name: string): Promise<void> {
    const { kube } = this.o;
    if (this.o.caches.dataVolumes.get(name, ns)) await kube.remove(() => kube.custom.deleteNamespacedCustomObject({ ...dvRef, namespace: ns, name }));
    else await kube.remove(() => kube.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name }));
  }

  /** Creates the managed DataSource and points it at the last import that Succeeded. */
  private async updateDataSource(cron: DataImportCron): Promise<void> {
    const ns = cron.metadata?.namespace ?? '';
    const name = cron.spec?.managedDataSource ?? '';
    const labels = cronResourceLabels(cron);
    const last = cron.status?.lastImportedPVC;
    const source = last?.name ? { pvc: { namespace: last.namespace ?? ns, name: last.name } } : {};
    const existing = this.o.caches.dataSources.get(name, ns);
    if (!existing) {
      const body: DataSource = { apiVersion: ApiVersion, kind: 'DataSource', metadata: { name, namespace: ns, labels }, spec: { source } };
      await this.o.kube.ensure(() => this.o.kube.createCustom(dsRef, ns, body));
      return;
    }
    if (existing.metadata?.labels?.[CronLabel] !== cron.metadata?.name) return;
    const updated = structuredClone(existing);
    updated.metadata!.labels = { ...existing.metadata?.labels, ...labels };
    if (last?.name) updated.spec = { ...updated.spec, source };
    if (isDeepStrictEqual(updated, existing)) return;
    await this.o.kube.custom.replaceNamespacedCustomObject({ ...dsRef, namespace: ns, name, body: updated });
  }

  /** Writes what changed: annotations through the object, then status through /status. */
  private async write(before: DataImportCron & KubernetesObject, cron: DataImportCron & KubernetesObject): Promise<void> {
    const ns = cron.metadata?.namespace ?? '';
    const name = cron.metadata?.name ?? '';
    let resourceVersion = cron.metadata?.resourceVersion;
    if (!isDeepStrictEqual(before.metadata?.annotations ?? {}, cron.metadata?.annotations ?? {})) {
      const written = (await this.o.kube.custom.replaceNamespacedCustomObject({ ...cronRef, namespace: ns, name, body: { ...cron, status: before.status } })) as KubernetesObject;
      resourceVersion = written.metadata?.resourceVersion;
    }
    if (!isDeepStrictEqual(JSON.parse(JSON.stringify(before.status ?? {})), JSON.parse(JSON.stringify(cron.status ?? {})))) {
      await this.o.kube.custom.replaceNamespacedCustomObjectStatus({ ...cronRef, namespace: ns, name, body: { ...cron, metadata: { ...cron.metadata, resourceVersion } } });
    }
  }

  /** After the cron is gone: its metric goes, and with retentionPolicy None what it made goes too. */
  private async cleanup(ns: string, name: string): Promise<void> {
    deleteCronOutdated(ns, name);
    const { caches, kube } = this.o;
    const made = (o: KubernetesObject) => o.metadata?.labels?.[CronLabel] === name && o.metadata.labels[CronCleanupLabel] === 'true';
    for (const ds of caches.dataSources.list(ns).filter(made)) await kube.remove(() => kube.custom.deleteNamespacedCustomObject({ ...dsRef, namespace: ns, name: ds.metadata?.name ?? '' }));
    for (const dv of caches.dataVolumes.list(ns).filter(made)) await kube.remove(() => kube.custom.deleteNamespacedCustomObject({ ...dvRef, namespace: ns, name: dv.metadata?.name ?? '' }));
    for (const pvc of caches.claims.list(ns).filter(made)) await kube.remove(() => kube.core.deleteNamespacedPersistentVolumeClaim({ namespace: ns, name: pvc.metadata?.name ?? '' }));
  }

  private async event(cron: DataImportCron, type: string, reason: string, message: string): Promise<void> {
    try {
      await recordEvent(this.o.kube, EventComponent, { apiVersion: ApiVersion, kind: 'DataImportCron', metadata: cron.metadata }, type, reason, message);
    } catch (err) {
      if (!isNotFound(err)) this.o.logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err), reason }, 'event not recorded');
    }
  }
}
