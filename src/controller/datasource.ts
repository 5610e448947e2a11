import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { DataSourceReason } from '../api/conditions.ts';
import type { DataSource } from '../api/datasource.ts';
import type { DataVolume } from '../api/datavolume.ts';
import type { Logger } from '../api/logger.ts';
import { Phase } from '../api/phases.ts';
import { rfc3339 } from '../api/time.ts';
import { resolveDataSourceChain } from './datasource-chain.ts';
import { cdi, type Caches } from './informers.ts';
import { isConflict, isNotFound, type Kube } from './kube.ts';

/** What the DataSource controller reads about a DataSource's final source. */
export interface DataSourceObserved {
  getDataSource(name: string, namespace: string): DataSource | undefined;
  getClaim(name: string, namespace: string): V1PersistentVolumeClaim | undefined;
  getDataVolume(name: string, namespace: string): DataVolume | undefined;
}

type Ready = { status: 'True' | 'False'; reason: string; message: string };

/** Labels upstream copies from a ready source onto its DataSource (CopyAllowedLabels). */
const allowedLabel = /^([\w.]+\.kubevirt\.io|kubevirt\.io)\/[\w.-]+$/;

export function allowedLabels(...sources: Array<Record<string, string> | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const labels of sources) for (const [k, v] of Object.entries(labels ?? {})) if (allowedLabel.test(k)) out[k] = v;
  return out;
}

/**
 * CDI's DataSource controller: resolves a `dataSource` chain (depth 1), then the Ready condition
 * says whether the PVC exists and, when a DataVolume populates it, has Succeeded. Snapshots do not
 * exist here, so a snapshot source is never Ready and says so. `status.source` mirrors the
 * resolved source while Ready; KubeVirt's labels on a ready source (instancetype defaults) are
 * copied onto the DataSource.
 */
export function dataSourceUpdate(ds: DataSource, observed: DataSourceObserved, now: string): { status: NonNullable<DataSource['status']>; labels: Record<string, string> } {
  const chain = resolveDataSourceChain(ds, observed.getDataSource);
  let ready: Ready;
  let labels: Record<string, string> = {};
  let source: NonNullable<DataSource['spec']>['source'] = {};
  if ('reason' in chain) {
    ready = { status: 'False', ...chain };
  } else {
    source = chain.resolved.spec?.source ?? {};
    const ns = chain.resolved.metadata?.namespace ?? ds.metadata?.namespace ?? 'default';
    if (source.pvc) {
      const claimNs = source.pvc.namespace || ns;
      const claim = observed.getClaim(source.pvc.name, claimNs);
      const dv = observed.getDataVolume(source.pvc.name, claimNs);
      if (!dv && !claim) ready = { status: 'False', reason: DataSourceReason.NotFound, message: 'PVC not found' };
      else if (dv && dv.status?.phase !== Phase.Succeeded) ready = { status: 'False', reason: dv.status?.phase ?? '', message: `Import DataVolume phase ${dv.status?.phase ?? ''}` };
      else {
        ready = { status: 'True', reason: DataSourceReason.Ready, message: 'DataSource is ready to be consumed' };
        labels = allowedLabels(dv?.metadata?.labels, claim?.metadata?.labels);
      }
    } else if (source.snapshot) {
      ready = { status: 'False', reason: DataSourceReason.SnapshotNotSupported, message: 'VolumeSnapshots are not available in this CDI implementation; point the DataSource at a PVC' };
    } else {
      ready = { status: 'False', reason: DataSourceReason.NoSource, message: 'No source PVC set' };
    }
  }
  const before = ds.status?.conditions?.find((c) => c.type === 'Ready');
  const same = before && before.status === ready.status && before.reason === ready.reason && before.message === ready.message;
  const condition = same
    ? before
    : { type: 'Ready', ...ready, lastHeartbeatTime: now, lastTransitionTime: before?.status === ready.status ? (before.lastTransitionTime ?? now) : now };
  return { status: { source: ready.status === 'True' ? source : {}, conditions: [condition] }, labels };
}

export class DataSourceController {
  private readonly kube: Kube;
  private readonly caches: Caches;
  private readonly logger: Logger;
  private pending: Promise<void> = Promise.resolve();
  private scheduled = false;

  constructor(kube: Kube, caches: Caches, logger: Logger) {
    this.kube = kube;
    this.caches = caches;
    this.logger = logger;
  }

  start(): void {
    const kick = () => this.schedule();
    for (const verb of ['add', 'update', 'delete'] as const) {
      this.caches.dataSources.on(verb, kick);
      this.caches.claims.on(verb, kick);
      this.caches.dataVolumes.on(verb, kick);
    }
  }

  /** Coalesces bursts of events into one pass over the (few) DataSources. */
  private schedule(): void {
    if (this.scheduled || this.caches.dataSources.list().length === 0) return;
    this.scheduled = true;
    this.pending = this.pending
      .then(() => new Promise((r) => setTimeout(r, 100)))
      .then(() => {
        this.scheduled = false;
        return this.syncAll();
      })
      .catch((err: unknown) => this.logger.warn({ err: String(err) }, 'DataSource sync failed'));
  }

  private async syncAll(): Promise<void> {
    const ref = cdi('datasources');
    const observed: DataSourceObserved = {
      getDataSource: (name, ns) => this.caches.dataSources.get(name, ns),
      getClaim: (name, ns) => this.caches.claims.get(name, ns),
      getDataVolume: (name, ns) => this.caches.dataVolumes.get(name, ns),
    };
    for (const ds of this.caches.dataSources.list()) {
      const ns = ds.metadata?.namespace ?? 'default';
      const name = ds.metadata?.name ?? '';
      const { status, labels } = dataSourceUpdate(ds, observed, rfc3339());
      const retry = (err: unknown) => {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        if (isConflict(err)) this.schedule();
      };
      const missing = Object.entries(labels).filter(([k, v]) => ds.metadata?.labels?.[k] !== v);
      if (missing.length > 0) {
        // Labels go through the object; the status write follows on the event this one causes.
        await this.kube.custom.replaceNamespacedCustomObject({ ...ref, namespace: ns, name, body: { ...ds, metadata: { ...ds.metadata, labels: { ...ds.metadata?.labels, ...labels } } } }).catch(retry);
        continue;
      }
      if (JSON.stringify(status) === JSON.stringify(ds.status ?? {})) continue;
      await this.kube.replaceStatus(ref, ns, name, { ...ds, status }).catch(retry);
    }
  }
}
