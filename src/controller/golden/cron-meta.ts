import { Gauge, register } from 'prom-client';
import type { DataImportCron } from '../../api/dataimportcron.ts';
import { allowedLabels } from '../datasource.ts';
import { shortName } from '../names.ts';

/** Labels, annotations and names of DataImportCron's objects, spelled as upstream CDI spells them. */
export const CronLabel = 'cdi.kubevirt.io/dataImportCron';
/** Set on what a cron creates when its retentionPolicy is None: deleted with the cron. */
export const CronCleanupLabel = `${CronLabel}.cleanup`;

export const CronAnn = {
  /** The digest the last poll saw; an import is made for it. */
  desiredDigest: 'cdi.kubevirt.io/storage.import.sourceDesiredDigest',
  /** When the next poll is due (RFC 3339); set it to the past to poll now. */
  nextCronTime: 'cdi.kubevirt.io/storage.import.nextCronTime',
  /** When the last poll ran. */
  lastCronTime: 'cdi.kubevirt.io/storage.import.lastCronTime',
  /** When an import was last made current; garbage collection keeps the newest. */
  lastUseTime: 'cdi.kubevirt.io/storage.import.lastUseTime',
} as const;

export const DefaultImportsToKeep = 3;

/** Upstream's `createDvName`: the managed DataSource's name and the first 12 hex digits of the digest. */
export function importName(dataSource: string, digest: string): string | undefined {
  const m = /^(?:sha256|uid):(.{12})/.exec(digest);
  return m ? shortName(`${dataSource}-${m[1]}`) : undefined;
}

/** The labels a cron puts on its DataVolumes, claims and DataSource. */
export function cronResourceLabels(cron: DataImportCron): Record<string, string> {
  // Upstream copies the cron's KubeVirt labels (default instancetype and preference among them).
  const labels: Record<string, string> = { ...allowedLabels(cron.metadata?.labels), [CronLabel]: cron.metadata?.name ?? '' };
  if (cron.spec?.retentionPolicy === 'None') labels[CronCleanupLabel] = 'true';
  return labels;
}

/** kubevirt_cdi_dataimportcron_outdated{namespace, cron_name, pending}: 1 while a cron's import is not up to date. */
function outdatedGauge(): Gauge {
  const name = 'kubevirt_cdi_dataimportcron_outdated';
  return (register.getSingleMetric(name) as Gauge | undefined)
    ?? new Gauge({ name, help: 'DataImportCron has an outdated import', labelNames: ['namespace', 'cron_name', 'pending'] });
}

export function setCronOutdated(namespace: string, name: string, outdated: boolean): void {
  const gauge = outdatedGauge();
  gauge.remove({ namespace, cron_name: name, pending: 'true' });
  gauge.set({ namespace, cron_name: name, pending: 'false' }, outdated ? 1 : 0);
}

export function deleteCronOutdated(namespace: string, name: string): void {
  const gauge = outdatedGauge();
  for (const pending of ['true', 'false']) gauge.remove({ namespace, cron_name: name, pending });
}

/**
 * `docker://host/repo:tag` + digest → `docker://host/repo@digest` (upstream's untagDigestedDockerURL):
 * the import pins what was polled, whatever the tag points at by the time the importer runs.
 */
export function digestedUrl(url: string, digest: string): string {
  let base = url.includes('@') ? url.slice(0, url.indexOf('@')) : url;
  const lastSlash = base.lastIndexOf('/');
  const lastColon = base.lastIndexOf(':');
  if (lastColon > lastSlash && lastSlash > 'docker://'.length - 1) base = base.slice(0, lastColon);
  return `${base}@${digest}`;
}
