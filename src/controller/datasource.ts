import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { DataSource } from '../api/datasource.ts';
import type { DataVolume } from '../api/datavolume.ts';
import type { Logger } from '../api/logger.ts';
import { Phase } from '../api/phases.ts';
import { cdi, type Caches } from './informers.ts';
import { isConflict, isNotFound, type Kube } from './kube.ts';
import { rfc3339 } from '../api/time.ts';

/**
 * CDI's DataSource controller, for PVC sources: `status.source` mirrors the spec and the Ready
 * condition says whether the claim exists and, when a DataVolume populates it, has Succeeded.
 */
export function dataSourceStatus(
  ds: DataSource,
  claim: V1PersistentVolumeClaim | undefined,
  dv: DataVolume | undefined,
  now: string,
): NonNullable<DataSource['status']> {
  const source = ds.spec?.source ?? {};
  let ready: { status: 'True' | 'False'; reason: string; message: string };
  if (!source.pvc) ready = { status: 'False', reason: 'NoSource', message: 'No source PVC set' };
  else if (!claim) ready = { status: 'False', reason: 'NotFound', message: 'No source PVC found' };
  else if (dv && dv.status?.phase !== Phase.Succeeded) ready = { status: 'False', reason: dv.status?.phase || 'Pending', message: `DataVolume ${dv.metadata?.name} is ${dv.status?.phase || 'Pending'}` };
  else ready = { status: 'True', reason: 'Ready', message: 'DataSource is ready to be consumed' };
  const before = ds.status?.conditions?.find((c) => c.type === 'Ready');
  const same = before && before.status === ready.status && before.reason === ready.reason && before.message === ready.message;
  const condition = same
    ? before
    : { type: 'Ready', ...ready, lastHeartbeatTime: now, lastTransitionTime: before?.status === ready.status ? (before.lastTransitionTime ?? now) : now };
  return { source, conditions: [condition] };
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
    for (const ds of this.caches.dataSources.list()) {
      const ns = ds.metadata?.namespace ?? 'default';
      const pvc = ds.spec?.source?.pvc;
      const claimNs = pvc?.namespace || ns;
      const claim = pvc ? this.caches.claims.get(pvc.name, claimNs) : undefined;
      const dv = pvc ? this.caches.dataVolumes.get(pvc.name, claimNs) : undefined;
      const status = dataSourceStatus(ds, claim, dv, rfc3339());
      if (JSON.stringify(status) === JSON.stringify(ds.status ?? {})) continue;
      await this.kube.replaceStatus(ref, ns, ds.metadata?.name ?? '', { ...ds, status }).catch((err: unknown) => {
        if (!isConflict(err) && !isNotFound(err)) throw err;
        if (isConflict(err)) this.schedule();
      });
    }
  }
}
