import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFixtures, type FormatFixtures } from '../support/fixtures-format.ts';
import { kubectl, kubectlWithInput } from '../support/kubectl.ts';
import { requiredHeaders, startNginx, type Nginx } from '../support/nginx.ts';
import { digestPrefix, dvYaml, getDv, virtualSize, volumeImage, waitPhase } from './support.ts';
import { eventually } from '../support/eventually.ts';
import { startServe, type Serve } from '../support/serve.ts';

/**
 * End to end through `cdi serve` (API server, node agent, controller, real worker processes),
 * kubectl and nginx: what a user sees from `kubectl apply` to `Succeeded`, every success checked
 * by digest against qemu-img's conversion of the source.
 */
const root = path.resolve(import.meta.dirname, '../..');
const execFileP = promisify(execFile);
let serve: Serve;
let nginx: Nginx;
let fx: FormatFixtures;

const cond = (dv: { status?: { conditions?: Array<{ type: string; reason?: string; message?: string }> } }, type: string) =>
  dv.status?.conditions?.find((c) => c.type === type);

async function apply(yaml: string): Promise<void> {
  const r = await kubectlWithInput(serve.kubeconfig, yaml, 'apply', '-f', '-');
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

async function setRetryBudget(n: number): Promise<void> {
  const r = await kubectl(serve.kubeconfig, 'patch', 'cdiconfig', 'config', '--type', 'merge', '-p', JSON.stringify({ spec: { workerRetryBudget: n } }));
  if (r.code !== 0) throw new Error(`kubectl patch failed: ${r.stderr}`);
}

async function expectImage(dv: string, fixture: string): Promise<void> {
  const image = await volumeImage(serve, dv);
  const size = await virtualSize(fx.file(fixture.replace(/\.(gz|xz|zst)$/, '')));
  const got = await digestPrefix(image, size);
  expect(got.sha256, `${dv} bytes vs qemu-img convert of ${fixture}`).toBe(fx.reference[fixture.replace(/\.(gz|xz|zst)$/, '')]);
  expect(got.restZero).toBe(true);
  expect(got.size).toBeGreaterThanOrEqual(size);
}

beforeAll(async () => {
  fx = await formatFixtures();
  [serve, nginx] = await Promise.all([startServe(), startNginx({ root: fx.dir, limitRate: '1m' })]);
  await setRetryBudget(1);
});

afterAll(async () => {
  await Promise.all([serve?.stop(), nginx?.stop()]);
});

describe('DataVolumes through cdi serve and kubectl', () => {
  it('imports qcow2, raw.xz and iso over HTTP, byte-identical to qemu-img convert', async () => {
    const imports = { 'imp-qcow2': 'small.qcow2', 'imp-rawxz': 'small.raw.xz', 'imp-iso': 'small.iso' };
    await apply(Object.entries(imports).map(([name, file]) => dvYaml(name, `http:\n  url: ${nginx.plain}/${file}`)).join('---\n'));
    const watch = await kubectl(serve.kubeconfig, 'get', 'dv');
    expect(watch.stdout).toMatch(/NAME\s+PHASE\s+PROGRESS\s+RESTARTS\s+AGE/);
    for (const [name, file] of Object.entries(imports)) {
      const dv = await waitPhase(serve, name, 'Succeeded');
      expect(dv.status?.progress).toBe('100.0%');
      expect(cond(dv, 'Ready')?.reason ?? '').toBe('');
      expect(cond(dv, 'Running')).toMatchObject({ status: 'False', reason: 'Completed' });
      await expectImage(name, file);
    }
    const events = await kubectl(serve.kubeconfig, 'get', 'events', '--field-selector', 'involvedObject.name=imp-qcow2');
    expect(events.stdout).toContain('Successfully imported into PVC imp-qcow2');
  });

  it('uploads with cdi image-upload in dv and pvc modes, and an archive', async () => {
    const upload = (...args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn(path.join(root, 'bin/cdi'), ['image-upload', ...args, '--insecure', '--kubeconfig', serve.kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => resolve({ code, out }));
      });
    const dvMode = await upload('dv', 'up-dv', '--size', '64Mi', '--image-path', fx.file('small.qcow2'));
    expect(dvMode.code, dvMode.out).toBe(0);
    expect(dvMode.out).toContain('completed successfully');
    const dv = await waitPhase(serve, 'up-dv', 'Succeeded');
    expect(dv.status?.progress).toBe('100.0%');
    await expectImage('up-dv', 'small.qcow2');

    const pvcMode = await upload('pvc', 'up-pvc', '--size', '64Mi', '--image-path', fx.file('small.raw.xz'));
    expect(pvcMode.code, pvcMode.out).toBe(0);
    await expectImage('up-pvc', 'small.raw.xz');
    const claim = await serve.core.readNamespacedPersistentVolumeClaim({ name: 'up-pvc', namespace: 'default' });
    expect(claim.metadata?.annotations?.['cdi.kubevirt.io/storage.pod.phase']).toBe('Succeeded');

    const tarDir = await mkdtemp(path.join(tmpdir(), 'cdi-e2e-tar-'));
    await writeFile(path.join(tarDir, 'hello.txt'), 'hello from an archive\n');
    await execFileP('tar', ['-cf', path.join(tarDir, 'content.tar'), '-C', tarDir, 'hello.txt']);
    const archive = await upload('dv', 'up-archive', '--size', '16Mi', '--archive-path', path.join(tarDir, 'content.tar'));
    expect(archive.code, archive.out).toBe(0);
    await waitPhase(serve, 'up-archive', 'Succeeded');
    const volumeDir = path.dirname(await volumeImage(serve, 'up-archive'));
    expect(await readFile(path.join(volumeDir, 'hello.txt'), 'utf8')).toBe('hello from an archive\n');
    await rm(tarDir, { recursive: true, force: true });
  });

  it('creates a blank volume of the requested size', async () => {
    await apply(dvYaml('blank', 'blank: {}', '32Mi'));
    await waitPhase(serve, 'blank', 'Succeeded');
    const got = await digestPrefix(await volumeImage(serve, 'blank'), 0);
    expect(got.size).toBe(32 * 1024 * 1024);
    expect(got.restZero).toBe(true);
  });

  it('clones a finished volume (host-assisted, through the target upload server)', async () => {
    await apply(`apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: imp-clone
spec:
  source:
    pvc: {namespace: default, name: imp-qcow2}
  storage: {}
`);
    await waitPhase(serve, 'imp-clone', 'Succeeded');
    await expectImage('imp-clone', 'small.qcow2');
  });

  it('creates a VM\'s two dataVolumeTemplates, reports them ready, and deleting the VM removes everything it owned', async () => {
    await apply(`apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: vm1
spec:
  running: false
  dataVolumeTemplates:
  - metadata: {name: vm1-root}
    spec:
      source: {http: {url: "${nginx.plain}/small.qcow2"}}
      storage: {resources: {requests: {storage: 64Mi}}}
  - metadata: {name: vm1-data}
    spec:
      source: {blank: {}}
      storage: {resources: {requests: {storage: 16Mi}}}
  template:
    spec:
      domain: {devices: {disks: [{name: root, disk: {bus: virtio}}, {name: data, disk: {bus: virtio}}]}}
      volumes:
      - {name: root, dataVolume: {name: vm1-root}}
      - {name: data, dataVolume: {name: vm1-data}}
`);
    const vmRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
    await eventually(async () => {
      const vm = (await serve.custom.getNamespacedCustomObject({ ...vmRef, namespace: 'default', name: 'vm1' })) as {
        status?: { conditions?: Array<{ type: string; status: string }> };
      };
      return vm.status?.conditions?.find((c) => c.type === 'DataVolumesReady' && c.status === 'True');
    }, 'VM volumes ready');
    const root = await getDv(serve, 'vm1-root');
    expect(root.status?.phase).toBe('Succeeded');
    expect(root.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'VirtualMachine', name: 'vm1', controller: true });
    await expectImage('vm1-root', 'small.qcow2');
    const rootImage = await volumeImage(serve, 'vm1-root');

    const del = await kubectl(serve.kubeconfig, 'delete', 'vm', 'vm1');
    expect(del.code, del.stderr).toBe(0);
    await eventually(async () => {
      const dvs = await kubectl(serve.kubeconfig, 'get', 'dv', '-o', 'name');
      const pvcs = await kubectl(serve.kubeconfig, 'get', 'pvc', '-o', 'name');
      return /vm1-/.test(dvs.stdout + pvcs.stdout) || existsSync(rootImage) ? undefined : true;
    }, 'VM DataVolumes, claims and data deleted');
  });

  it('bad URL: stays ImportInProgress with restarts and CDI\'s Running message, then Failed when the retry budget is spent', async () => {
    await apply(dvYaml('badurl', `http:\n  url: ${nginx.plain}/no-such-image.qcow2`));
    const failed = await waitPhase(serve, 'badurl', 'Failed');
    expect(failed.status?.restartCount).toBeGreaterThanOrEqual(1);
    expect(cond(failed, 'Running')?.message).toContain('404');
    expect(cond(failed, 'Running')?.reason).toBe('RetryBudgetExhausted');
  });

  it('too-small volume: "DataVolume too small to contain image"', async () => {
    await apply(dvYaml('toosmall', `http:\n  url: ${nginx.plain}/small.raw`, '1Mi'));
    const dv = await eventually(async () => {
      const d = await getDv(serve, 'toosmall');
      return cond(d, 'Running')?.message === 'DataVolume too small to contain image' ? d : undefined;
    }, 'too-small message');
    expect(['ImportInProgress', 'Failed']).toContain(dv.status?.phase);
  });

  it('sends extraHeaders and secretExtraHeaders (every value of the Secret is a header line)', async () => {
    const secret = `apiVersion: v1
kind: Secret
metadata:
  name: header-secret
stringData:
  token: "${requiredHeaders.tokenName}: ${requiredHeaders.token}"
`;
    await apply(`${secret}---\n${dvYaml('headers', `http:\n  url: ${nginx.header}/small.qcow2\n  extraHeaders: ["${requiredHeaders.plain}"]\n  secretExtraHeaders: [header-secret]`)}`);
    await waitPhase(serve, 'headers', 'Succeeded');
    await expectImage('headers', 'small.qcow2');
  });

  it('checksum mismatch: Failed with ChecksumError', async () => {
    const right = createHash('sha256').update(await readFile(fx.file('small.qcow2'))).digest('hex');
    await apply(dvYaml('sum-ok', `http:\n  url: ${nginx.plain}/small.qcow2\n  checksum: "sha256:${right}"`));
    await apply(dvYaml('sum-bad', `http:\n  url: ${nginx.plain}/small.qcow2\n  checksum: "sha256:${'0'.repeat(64)}"`));
    await waitPhase(serve, 'sum-ok', 'Succeeded');
    const bad = await waitPhase(serve, 'sum-bad', 'Failed');
    expect(cond(bad, 'Running')?.reason).toBe('ChecksumError');
  });

  it('refuses invalid manifests with CDI\'s webhook messages', async () => {
    const cases: Array<[string, string]> = [
      [dvYaml('inv1', 'http:\n  url: ftp://example.com/x.img'), `Invalid source URL scheme: ftp://example.com/x.img`],
      [dvYaml('inv2', 'blank: {}\nupload: {}'), 'Multiple Data volume sources'],
      [dvYaml('inv3', 'blank: {}', '0'), "Storage size can't be equal or less than zero"],
      [`apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata: {name: inv4}\nspec:\n  source: {blank: {}}\n`, 'Missing Data volume PVC'],
    ];
    for (const [yaml, message] of cases) {
      const r = await kubectlWithInput(serve.kubeconfig, yaml, 'create', '-f', '-');
      expect(r.code).not.toBe(0);
      // kubectl 1.20 prints a 422 with causes as "The datavolumes "x" is invalid: <field>: <message>".
      expect(r.stderr).toContain(message);
    }
  });

  it('kill -9 of cdi serve in the middle of an import, restart, and the import completes with the right bytes', async () => {
    await setRetryBudget(10);
    await apply(dvYaml('survivor', `http:\n  url: ${nginx.limited}/small.raw`));
    await waitPhase(serve, 'survivor', 'ImportInProgress');
    const progressing = await eventually(async () => {
      const d = await getDv(serve, 'survivor');
      return /^\d{1,2}\.\d{2}%$/.test(d.status?.progress ?? '') ? d : undefined;
    }, 'progress NN.NN% scraped from the importer');
    expect(cond(progressing, 'Running')).toMatchObject({ status: 'True', reason: 'Pod is running' });
    expect(cond(progressing, 'Running')?.message).toMatch(/^Processing stage: \w+/);
    await serve.kill9();
    await serve.restart();
    await waitPhase(serve, 'survivor', 'Succeeded', 90_000);
    await expectImage('survivor', 'small.raw');
    expect(path.basename(await volumeImage(serve, 'survivor'))).toBe('disk.img');
  });
});
