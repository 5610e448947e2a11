import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataImportCron } from '../../src/api/dataimportcron.ts';
import type { DataSource } from '../../src/api/datasource.ts';
import { kubectl, kubectlWithInput } from '../support/kubectl.ts';
import { qemuConvertToRaw, qemuImg, qemuIo, sha256File } from '../support/qemu.ts';
import { buildOciLayout, startRegistry, type Registry } from '../support/registry.ts';
import { digestPrefix, dvYaml, getDv, volumeImage, waitPhase } from './support.ts';
import { eventually } from '../support/eventually.ts';
import { startServe, type Serve } from '../support/serve.ts';

/**
 * Golden images end to end through `cdi serve`, kubectl and Debian's docker-registry: a
 * DataImportCron imports the tag's digest, keeps its DataSource on the newest import that
 * Succeeded, garbage-collects past importsToKeep, and says why when the registry is down. Each
 * generation of the image is a qcow2 made by qemu-img; its raw conversion is the byte oracle.
 */
const group = { group: 'cdi.kubevirt.io', version: 'v1beta1' };
const ns = 'default';
let serve: Serve;
let registry: Registry;
let work: string;

interface Generation {
  qcow2: string;
  sha256: string;
  size: number;
}

async function generation(n: number): Promise<Generation> {
  const qcow2 = path.join(work, `gen${n}.qcow2`);
  await qemuImg('create', '-f', 'qcow2', qcow2, '4M');
  await qemuIo(qcow2, 'qcow2', `write -P ${0x40 + n} 0 1M`, `write -P ${0x50 + n} 2M 512k`);
  const raw = `${qcow2}.raw`;
  await qemuConvertToRaw(qcow2, raw);
  return { qcow2, sha256: await sha256File(raw), size: 4 << 20 };
}

async function push(gen: Generation, env: string[]): Promise<string> {
  const layout = await buildOciLayout(path.join(work, 'layout'), 'latest', [{ layers: [{ files: { 'disk/disk.qcow2': { file: gen.qcow2 } }, compression: 'gzip' }], env }]);
  await registry.push(layout, 'latest', 'golden');
  // The digest the registry serves for the tag, asked independently of the product.
  const res = await fetch(`http://${registry.host}/v2/golden/manifests/latest`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
  const digest = res.headers.get('docker-content-digest');
  if (!digest) throw new Error('registry served no digest');
  return digest;
}

async function run(...args: string[]): Promise<string> {
  const r = await kubectl(serve.kubeconfig, ...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function apply(yaml: string): Promise<void> {
  const r = await kubectlWithInput(serve.kubeconfig, yaml, 'apply', '-f', '-');
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

const getCron = async (name: string) => (await serve.custom.getNamespacedCustomObject({ ...group, plural: 'dataimportcrons', namespace: ns, name })) as DataImportCron;
const getDs = async (name: string) => (await serve.custom.getNamespacedCustomObject({ ...group, plural: 'datasources', namespace: ns, name })) as DataSource;
const condition = (obj: { status?: { conditions?: Array<{ type?: string; status?: string; reason?: string; message?: string }> } }, type: string) => obj.status?.conditions?.find((c) => c.type === type);

/** Polls now: what upstream's tests do too, instead of waiting for the minute. */
const pollNow = (cron: string) => run('annotate', 'dataimportcron', cron, '--overwrite', 'cdi.kubevirt.io/storage.import.nextCronTime=2000-01-01T00:00:00Z');

async function expectBytes(claim: string, gen: Generation): Promise<void> {
  const got = await digestPrefix(await volumeImage(serve, claim), gen.size);
  expect(got.sha256, `${claim} vs qemu-img convert -O raw`).toBe(gen.sha256);
  expect(got.restZero).toBe(true);
}

/** Waits for the cron to report `name` as its last import and the DataSource to be Ready on it. */
async function waitImported(cron: string, dataSource: string, name: string): Promise<void> {
  await eventually(async () => ((await getCron(cron)).status?.lastImportedPVC?.name === name ? true : undefined), `${cron} lastImportedPVC ${name}`, 120_000);
  await eventually(async () => {
    const ds = await getDs(dataSource);
    return ds.spec?.source?.pvc?.name === name && condition(ds, 'Ready')?.status === 'True' ? ds : undefined;
  }, `DataSource ${dataSource} Ready on ${name}`, 60_000);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'cdi-e2e-cron-'));
  [serve, registry] = await Promise.all([startServe(), startRegistry()]);
  await run('patch', 'cdiconfig', 'config', '--type', 'merge', '-p', JSON.stringify({ spec: { insecureRegistries: [registry.host] } }));
});

afterAll(async () => {
  await Promise.all([serve?.stop(), registry?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('DataImportCron through cdi serve with a real registry', () => {
  it('imports each new digest, repoints its DataSource, collects outdated imports and survives the registry going down', async () => {
    const gen1 = await generation(1);
    const digest1 = await push(gen1, ['INSTANCETYPE_KUBEVIRT_IO_DEFAULT_PREFERENCE=fedora']);
    await apply(`apiVersion: cdi.kubevirt.io/v1beta1
kind: DataImportCron
metadata:
  name: fedora-cron
spec:
  schedule: "* * * * *"
  managedDataSource: fedora
  importsToKeep: 1
  template:
    spec:
      source:
        registry:
          url: docker://${registry.host}/golden:latest
      storage:
        resources:
          requests:
            storage: 16Mi
`);
    // The first import comes on creation, named <dataSource>-<12 hex of the digest>.
    const first = `fedora-${digest1.slice('sha256:'.length, 'sha256:'.length + 12)}`;
    await waitImported('fedora-cron', 'fedora', first);
    await expectBytes(first, gen1);
    const dv1 = await getDv(serve, first);
    expect(dv1.metadata?.labels?.['cdi.kubevirt.io/dataImportCron']).toBe('fedora-cron');
    expect(dv1.spec?.source?.registry?.url).toBe(`docker://${registry.host}/golden@${digest1}`);
    // KubeVirt's labels from the image config's environment reach the claim and the DataSource.
    const pvc1 = await serve.core.readNamespacedPersistentVolumeClaim({ name: first, namespace: ns });
    expect(pvc1.metadata?.labels?.['instancetype.kubevirt.io/default-preference']).toBe('fedora');
    await eventually(async () => ((await getDs('fedora')).metadata?.labels?.['instancetype.kubevirt.io/default-preference'] === 'fedora' ? true : undefined), 'DataSource label');
    let cron = await getCron('fedora-cron');
    expect(cron.status?.currentImports).toEqual([{ DataVolumeName: first, Digest: digest1 }]);
    expect(condition(cron, 'UpToDate')).toMatchObject({ status: 'True', reason: 'UpToDate', message: 'Latest import is up to date' });
    expect(condition(cron, 'Progressing')).toMatchObject({ status: 'False', reason: 'NoImport', message: 'No current import' });
    expect(cron.status?.lastExecutionTimestamp).toBeTruthy();
    expect(Date.parse(cron.metadata?.annotations?.['cdi.kubevirt.io/storage.import.nextCronTime'] ?? '')).toBeGreaterThan(Date.now() - 1000);

    // Polling again with the same digest makes no second import.
    await pollNow('fedora-cron');
    await eventually(async () => ((await getCron('fedora-cron')).metadata?.annotations?.['cdi.kubevirt.io/storage.import.nextCronTime']?.startsWith('2000') ? undefined : true), 'poll');
    const dvs = JSON.parse(await run('get', 'datavolumes', '-o', 'json')) as { items: Array<{ metadata: { name: string } }> };
    expect(dvs.items.map((d) => d.metadata.name)).toEqual([first]);

    // A new digest on the same tag: a second import, the DataSource repointed, the first collected.
    const gen2 = await generation(2);
    const digest2 = await push(gen2, []);
    await pollNow('fedora-cron');
    const second = `fedora-${digest2.slice('sha256:'.length, 'sha256:'.length + 12)}`;
    await waitImported('fedora-cron', 'fedora', second);
    await expectBytes(second, gen2);
    await eventually(async () => ((await kubectl(serve.kubeconfig, 'get', 'pvc', first)).code !== 0 ? true : undefined), `outdated import ${first} collected`, 60_000);

    // A DataVolume cloning from the DataSource gets the newest bytes.
    await apply(dvYaml('from-golden', '', '32Mi').replace('  source:\n    \n', '  sourceRef:\n    kind: DataSource\n    name: fedora\n'));
    await waitPhase(serve, 'from-golden', 'Succeeded', 120_000);
    await expectBytes('from-golden', gen2);

    // So does a VM's dataVolumeTemplate: the DataSource is resolved to its PVC when the DV is made.
    await apply(`apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: vm-golden
spec:
  running: false
  dataVolumeTemplates:
  - metadata:
      name: vm-golden-root
    spec:
      sourceRef:
        kind: DataSource
        name: fedora
      storage:
        resources:
          requests:
            storage: 32Mi
  template:
    spec:
      volumes:
      - name: root
        dataVolume:
          name: vm-golden-root
`);
    const vmDv = await waitPhase(serve, 'vm-golden-root', 'Succeeded', 120_000);
    expect(vmDv.spec?.source?.pvc).toEqual({ namespace: ns, name: second });
    expect(vmDv.spec?.sourceRef).toBeUndefined();
    await expectBytes('vm-golden-root', gen2);

    // The registry goes down: the DataSource stays on the last good import and the cron says why.
    await registry.stop();
    await pollNow('fedora-cron');
    cron = await eventually(async () => {
      const c = await getCron('fedora-cron');
      return condition(c, 'UpToDate')?.reason === 'DigestPollFailed' ? c : undefined;
    }, 'UpToDate DigestPollFailed', 60_000);
    expect(condition(cron, 'UpToDate')?.status).toBe('False');
    expect(condition(cron, 'UpToDate')?.message).toContain(`DataSource fedora stays on ${second}`);
    const ds = await getDs('fedora');
    expect(ds.spec?.source?.pvc?.name).toBe(second);
    expect(condition(ds, 'Ready')?.status).toBe('True');
    const events = await run('get', 'events', '--field-selector', 'involvedObject.name=fedora-cron', '-o', 'jsonpath={.items[*].reason}');
    expect(events.split(' ')).toContain('DigestPollFailed');
  });
});
