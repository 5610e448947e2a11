import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { register } from 'prom-client';
import type { DataImportCron } from '../../src/api/dataimportcron.ts';
import type { DataSource } from '../../src/api/datasource.ts';
import { bindClaim, eventually, getDv, setPodStatus, startHarness, waitPhase, type Harness } from './harness.ts';

/**
 * The DataImportCron controller against the embedded API server, the test playing the kubelet
 * and the registry's answers (the poller is the controller's injection point; the e2e test polls
 * a real registry). The clock is injected, so schedules are evaluated at a known time.
 */
const group = { group: 'cdi.kubevirt.io', version: 'v1beta1' };
const A = `sha256:${'a'.repeat(64)}`;
const B = `sha256:${'b'.repeat(64)}`;
let h: Harness;
let served: string | Error = A;
let polls = 0;
const clock = new Date('2026-12-03T12:00:00Z');

async function createCron(name: string, spec: Partial<NonNullable<DataImportCron['spec']>>, labels: Record<string, string> = {}): Promise<void> {
  await h.custom.createNamespacedCustomObject({
    ...group, plural: 'dataimportcrons', namespace: 'default',
    body: {
      apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataImportCron', metadata: { name, labels },
      spec: {
        schedule: '0 0 * * *',
        managedDataSource: name,
        template: { spec: { source: { registry: { url: 'docker://registry.example:5000/os/fedora:latest' } }, storage: { resources: { requests: { storage: '1Gi' } } } } },
        ...spec,
      },
    },
  });
}
const getCron = async (name: string) => (await h.custom.getNamespacedCustomObject({ ...group, plural: 'dataimportcrons', namespace: 'default', name })) as DataImportCron;
const getDs = async (name: string) => (await h.custom.getNamespacedCustomObject({ ...group, plural: 'datasources', namespace: 'default', name })) as DataSource;
const condition = (c: DataImportCron, type: string) => c.status?.conditions?.find((x) => x.type === type);
// A merge patch, not get-and-replace: the controller writes the cron meanwhile, and a replace would conflict.
const pollNow = (name: string) => h.custom.patchNamespacedCustomObject(
  { ...group, plural: 'dataimportcrons', namespace: 'default', name, body: { metadata: { annotations: { 'cdi.kubevirt.io/storage.import.nextCronTime': '2000-01-01T00:00:00Z' } } } },
  setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
);
const cronWhere = (name: string, test: (c: DataImportCron) => boolean, what: string) => eventually(async () => {
  const c = await getCron(name);
  return test(c) ? c : undefined;
}, what);
const outdatedMetric = async (name: string) => (await register.getSingleMetric('kubevirt_cdi_dataimportcron_outdated')?.get())?.values.find((v) => v.labels.cron_name === name)?.value;
const exists = (p: Promise<unknown>) => p.then(() => true, () => false);
const events = async (name: string) => (await h.core.listNamespacedEvent({ namespace: 'default' })).items.filter((e) => e.involvedObject.name === name).map((e) => e.reason);

async function succeedImport(dv: string, labels: Record<string, string> = {}): Promise<void> {
  await bindClaim(h, dv);
  const message = JSON.stringify({ message: 'Import Complete', labels });
  await setPodStatus(h, `importer-${dv}`, 'Succeeded', { state: { terminated: { exitCode: 0, reason: 'Completed', message } } });
  await waitPhase(h, dv, 'Succeeded');
}

beforeAll(async () => {
  // The test plays the kubelet for a few importers at once: no worker-slot limit in the way.
  h = await startHarness({ maxRunningWorkers: Infinity, now: () => clock, pollDigest: async () => {
    polls++;
    if (served instanceof Error) throw served;
    return served;
  } });
});
afterAll(async () => h?.stop());

describe('DataImportCron controller', () => {
  it('imports on creation, repoints its DataSource on success, never imports a digest twice, and keeps the last good import when a poll or an import fails', async () => {
    await createCron('fedora', {}, { 'instancetype.kubevirt.io/default-instancetype': 'u1.small' });
    const first = 'fedora-aaaaaaaaaaaa';
    const dv = await eventually(async () => getDv(h, first), 'import DataVolume');
    expect(dv.spec?.source?.registry?.url).toBe(`docker://registry.example:5000/os/fedora@${A}`);
    expect(dv.metadata?.labels).toMatchObject({ 'cdi.kubevirt.io/dataImportCron': 'fedora', 'instancetype.kubevirt.io/default-instancetype': 'u1.small' });
    expect(dv.metadata?.labels?.['cdi.kubevirt.io/dataImportCron.cleanup']).toBeUndefined();
    expect(dv.metadata?.annotations?.['cdi.kubevirt.io/storage.bind.immediate.requested']).toBe('true');
    // Outdated lasts only from the poll to the import it starts (upstream's order); a stable Outdated is the next case's.
    let cron = await cronWhere('fedora', (c) => condition(c, 'UpToDate')?.reason === 'ImportProgressing', 'import progressing');
    expect(condition(cron, 'UpToDate')).toMatchObject({ status: 'False', message: 'Import is progressing' });
    expect(cron.status?.currentImports).toEqual([{ DataVolumeName: first, Digest: A }]);
    // The next poll is the schedule's next time on the injected clock.
    expect(cron.metadata?.annotations?.['cdi.kubevirt.io/storage.import.nextCronTime']).toBe('2026-12-04T00:00:00Z');
    expect(cron.status?.lastExecutionTimestamp).toBe('2026-12-03T12:00:00Z');
    expect(await outdatedMetric('fedora')).toBe(1);
    const ds0 = await eventually(async () => getDs('fedora'), 'managed DataSource');
    expect(ds0.metadata?.labels?.['cdi.kubevirt.io/dataImportCron']).toBe('fedora');
    expect(ds0.spec?.source).toEqual({});

    await succeedImport(first, { 'instancetype.kubevirt.io/default-preference': 'fedora' });
    cron = await cronWhere('fedora', (c) => condition(c, 'UpToDate')?.status === 'True', 'UpToDate');
    expect(condition(cron, 'UpToDate')).toMatchObject({ reason: 'UpToDate', message: 'Latest import is up to date' });
    expect(condition(cron, 'Progressing')).toMatchObject({ status: 'False', reason: 'NoImport' });
    expect(cron.status?.lastImportedPVC).toEqual({ namespace: 'default', name: first });
    expect(cron.status?.sourceFormat).toBe('pvc');
    const ds = await eventually(async () => {
      const d = await getDs('fedora');
      return d.status?.conditions?.[0]?.status === 'True' ? d : undefined;
    }, 'DataSource Ready');
    expect(ds.spec?.source).toEqual({ pvc: { namespace: 'default', name: first } });
    const pvc = await h.core.readNamespacedPersistentVolumeClaim({ name: first, namespace: 'default' });
    expect(pvc.metadata?.labels?.['instancetype.kubevirt.io/default-preference']).toBe('fedora');
    expect(await outdatedMetric('fedora')).toBe(0);

    // The same digest again: polled, nothing imported.
    const before = polls;
    await pollNow('fedora');
    await eventually(async () => (polls > before ? true : undefined), 'second poll');
    await cronWhere('fedora', (c) => c.metadata?.annotations?.['cdi.kubevirt.io/storage.import.nextCronTime'] === '2026-12-04T00:00:00Z', 'rescheduled');
    const dvs = (await h.custom.listNamespacedCustomObject({ ...group, plural: 'datavolumes', namespace: 'default' })) as { items: Array<{ metadata: { name: string } }> };
    expect(dvs.items.map((d) => d.metadata.name)).toEqual([first]);

    // A new digest whose import fails: the DataSource stays, the cron and an event say why.
    served = B;
    await pollNow('fedora');
    const second = 'fedora-bbbbbbbbbbbb';
    await eventually(async () => getDv(h, second), 'second import');
    await bindClaim(h, second);
    await setPodStatus(h, `importer-${second}`, 'Failed', { state: { terminated: { exitCode: 1, reason: 'Error', message: 'Unable to process data: disk is corrupt' } } });
    cron = await cronWhere('fedora', (c) => condition(c, 'Progressing')?.reason === 'Failed', 'Progressing Failed');
    expect(condition(cron, 'Progressing')?.message).toBe('Import DataVolume phase Failed');
    expect(cron.status?.lastImportedPVC?.name).toBe(first);
    expect((await getDs('fedora')).spec?.source?.pvc?.name).toBe(first);
    await eventually(async () => ((await events('fedora')).includes('ImportFailed') ? true : undefined), 'ImportFailed event');

    // The registry down: said in UpToDate until a poll succeeds; the DataSource stays.
    served = new Error('dial tcp 127.0.0.1:5000: connect: connection refused');
    await pollNow('fedora');
    cron = await cronWhere('fedora', (c) => condition(c, 'UpToDate')?.reason === 'DigestPollFailed', 'DigestPollFailed');
    expect(condition(cron, 'UpToDate')?.message).toBe(`Cannot poll the source digest: dial tcp 127.0.0.1:5000: connect: connection refused; DataSource fedora stays on ${first}`);
    expect((await getDs('fedora')).spec?.source?.pvc?.name).toBe(first);
    expect(await events('fedora')).toContain('DigestPollFailed');
    served = A;
  });

  it('says Outdated while a new digest waits for the running import, and imports it once that one Succeeded', async () => {
    served = A;
    await createCron('queued', {});
    await eventually(async () => getDv(h, 'queued-aaaaaaaaaaaa'), 'first import');
    await cronWhere('queued', (c) => condition(c, 'UpToDate')?.reason === 'ImportProgressing', 'import progressing');
    served = B;
    await pollNow('queued');
    const cron = await cronWhere('queued', (c) => condition(c, 'UpToDate')?.reason === 'Outdated', 'Outdated');
    expect(condition(cron, 'UpToDate')).toMatchObject({ status: 'False', message: 'Source digest updated since last import' });
    expect(cron.status?.currentImports).toEqual([{ DataVolumeName: 'queued-aaaaaaaaaaaa', Digest: A }]);
    expect(await outdatedMetric('queued')).toBe(1);
    await succeedImport('queued-aaaaaaaaaaaa');
    await eventually(async () => getDv(h, 'queued-bbbbbbbbbbbb'), 'import of the new digest');
    const next = await cronWhere('queued', (c) => c.status?.currentImports?.[0]?.Digest === B, 'new digest current');
    expect(next.status?.lastImportedPVC?.name).toBe('queued-aaaaaaaaaaaa');
    served = A;
  });

  it('garbage-collects imports past importsToKeep, keeping the one in use', async () => {
    served = A;
    await createCron('gc', { importsToKeep: 1 });
    await eventually(async () => getDv(h, 'gc-aaaaaaaaaaaa'), 'first import');
    await succeedImport('gc-aaaaaaaaaaaa');
    await cronWhere('gc', (c) => c.status?.lastImportedPVC?.name === 'gc-aaaaaaaaaaaa', 'first in use');
    served = B;
    await pollNow('gc');
    await eventually(async () => getDv(h, 'gc-bbbbbbbbbbbb'), 'second import');
    await succeedImport('gc-bbbbbbbbbbbb');
    await cronWhere('gc', (c) => c.status?.lastImportedPVC?.name === 'gc-bbbbbbbbbbbb', 'second in use');
    await eventually(async () => ((await exists(getDv(h, 'gc-aaaaaaaaaaaa'))) ? undefined : true), 'outdated import collected');
    expect(await exists(getDv(h, 'gc-bbbbbbbbbbbb'))).toBe(true);
    served = A;
  });

  it('retentionPolicy None deletes what the cron made with it; the default (All) keeps it', async () => {
    served = A;
    await createCron('gone', { retentionPolicy: 'None' });
    await createCron('kept', {});
    const made = await eventually(async () => getDv(h, 'gone-aaaaaaaaaaaa'), 'import of gone');
    expect(made.metadata?.labels?.['cdi.kubevirt.io/dataImportCron.cleanup']).toBe('true');
    await eventually(async () => getDv(h, 'kept-aaaaaaaaaaaa'), 'import of kept');
    await eventually(async () => getDs('gone'), 'DataSource gone');
    await eventually(async () => getDs('kept'), 'DataSource kept');
    for (const name of ['gone', 'kept']) await h.custom.deleteNamespacedCustomObject({ ...group, plural: 'dataimportcrons', namespace: 'default', name });
    await eventually(async () => ((await exists(getDv(h, 'gone-aaaaaaaaaaaa'))) || (await exists(getDs('gone'))) ? undefined : true), 'cleanup');
    expect(await exists(getDv(h, 'kept-aaaaaaaaaaaa'))).toBe(true);
    expect(await exists(getDs('kept'))).toBe(true);
    expect(await outdatedMetric('gone')).toBeUndefined();
  });

  it('refuses imageStream sources and bad schedules in its conditions, importing nothing', async () => {
    await createCron('stream', { template: { spec: { source: { registry: { imageStream: 'fedora:latest', pullMethod: 'node' } }, storage: {} } } });
    await createCron('badsched', { schedule: '61 * * * *' });
    const stream = await cronWhere('stream', (c) => condition(c, 'UpToDate')?.reason === 'NotSupported', 'stream refused');
    expect(condition(stream, 'UpToDate')?.message).toContain('imageStream sources need OpenShift');
    const bad = await cronWhere('badsched', (c) => condition(c, 'UpToDate')?.reason === 'NotSupported', 'schedule refused');
    expect(condition(bad, 'UpToDate')?.message).toBe('invalid schedule "61 * * * *": minute: 61 is outside 0-59');
    expect(await exists(getDv(h, 'badsched-aaaaaaaaaaaa'))).toBe(false);
  });

  it('leaves a DataSource another cron manages alone (ErrDataSourceAlreadyManaged)', async () => {
    served = A;
    await createCron('owner', { managedDataSource: 'shared' });
    await eventually(async () => getDs('shared'), 'shared DataSource');
    await createCron('intruder', { managedDataSource: 'shared' });
    const c = await cronWhere('intruder', (x) => condition(x, 'Progressing')?.reason === 'ErrDataSourceAlreadyManaged', 'refused');
    expect(condition(c, 'Progressing')?.message).toBe('DataSource shared is already managed by DataImportCron owner');
    expect(await events('intruder')).toContain('ErrDataSourceAlreadyManaged');
    expect(await exists(getDv(h, 'shared-aaaaaaaaaaaa'))).toBe(true);
    expect((await getDs('shared')).metadata?.labels?.['cdi.kubevirt.io/dataImportCron']).toBe('owner');
  });
});
