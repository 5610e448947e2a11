import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataImportCron } from '../../src/api/dataimportcron.ts';
import { makeCerts } from '../support/certs.ts';
import { kubectl, kubectlWithInput } from '../support/kubectl.ts';
import { qemuConvertToRaw, qemuImg, qemuIo, sha256File } from '../support/qemu.ts';
import { buildOciLayout, startRegistry, type Registry } from '../support/registry.ts';
import { eventually } from '../support/eventually.ts';
import { startServe, type Serve } from '../support/serve.ts';
import { digestPrefix, dvYaml, getDv, volumeImage, waitPhase } from './support.ts';

/**
 * registry pullMethod node through `cdi serve`: Debian's docker-registry behind TLS and htpasswd (on
 * loopback, which the node trusts as dockerd trusts 127.0.0.0/8), its
 * credentials only in a docker config.json that REGISTRY_AUTH_FILE names for the serve process
 * (the machine's credentials), never in a Secret. The node agent pulls the image volume with
 * them; qemu-img's raw conversion of the pushed qcow2 is the byte oracle.
 */
const user = 'node-puller';
const password = 'n0de-s3cret';
let serve: Serve;
let registry: Registry;
let work: string;
let authFile: string;
let raw: { sha256: string; size: number };
const saved = { REGISTRY_AUTH_FILE: process.env.REGISTRY_AUTH_FILE, DOCKER_CONFIG: process.env.DOCKER_CONFIG, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME };

async function run(...args: string[]): Promise<string> {
  const r = await kubectl(serve.kubeconfig, ...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

async function apply(yaml: string): Promise<void> {
  const r = await kubectlWithInput(serve.kubeconfig, yaml, 'apply', '-f', '-');
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

const writeAuth = (auths: Record<string, { auth: string }>) => writeFile(authFile, JSON.stringify({ auths }), { mode: 0o600 });
const running = async (name: string) => (await getDv(serve, name)).status?.conditions?.find((c) => c.type === 'Running');

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'cdi-e2e-node-pull-'));
  authFile = path.join(work, 'auth.json');
  await writeAuth({});
  const qcow2 = path.join(work, 'disk.qcow2');
  await qemuImg('create', '-f', 'qcow2', qcow2, '4M');
  await qemuIo(qcow2, 'qcow2', 'write -P 0x6e 0 1M', 'write -P 0x6f 3M 64k');
  await qemuConvertToRaw(qcow2, `${qcow2}.raw`);
  raw = { sha256: await sha256File(`${qcow2}.raw`), size: 4 << 20 };
  // The registry first: docker-registry reads REGISTRY_* variables as its own configuration.
  registry = await startRegistry({ auth: { kind: 'htpasswd', user, password }, certs: await makeCerts(path.join(work, 'pki')) });
  // Only this file for serve: the machine's own docker and containers configs stay out of the test.
  process.env.REGISTRY_AUTH_FILE = authFile;
  process.env.DOCKER_CONFIG = path.join(work, 'no-docker-config');
  process.env.XDG_CONFIG_HOME = path.join(work, 'no-xdg-config');
  serve = await startServe();
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  const layout = await buildOciLayout(path.join(work, 'layout'), 'v1', [{ layers: [{ files: { 'disk/disk.qcow2': { file: qcow2 } }, compression: 'gzip' }] }]);
  await registry.push(layout, 'v1', 'private/disk');
  // The cron's digest poll is the controller's, which trusts plain HTTP only for listed registries.
  await run('patch', 'cdiconfig', 'config', '--type', 'merge', '-p', JSON.stringify({ spec: { insecureRegistries: [registry.host] } }));
});

afterAll(async () => {
  await Promise.all([serve?.stop(), registry?.stop()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('registry pullMethod node through cdi serve', () => {
  it('pulls with the machine credentials (REGISTRY_AUTH_FILE) and imports the right bytes; no Secret or worker env holds them', async () => {
    await writeAuth({ [registry.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } });
    await apply(dvYaml('node-pulled', `registry:\n  url: docker://${registry.host}/private/disk:v1\n  pullMethod: node`, '16Mi'));
    await waitPhase(serve, 'node-pulled', 'Succeeded', 120_000);
    const got = await digestPrefix(await volumeImage(serve, 'node-pulled'), raw.size);
    expect(got.sha256, 'node-pulled vs qemu-img convert -O raw').toBe(raw.sha256);
    expect(got.restZero).toBe(true);
    const everything = await run('get', 'secrets,pods,events', '-A', '-o', 'json');
    expect(everything).not.toContain(password);
    expect(everything).not.toContain(Buffer.from(`${user}:${password}`).toString('base64'));
  });

  it('pullMethod pod without a secretRef is refused by the registry, as before', async () => {
    await apply(dvYaml('pod-pulled', `registry:\n  url: docker://${registry.host}/private/disk:v1`, '16Mi'));
    const cond = await eventually(async () => {
      const c = await running('pod-pulled');
      return c?.message && /denied|unauthorized|401/i.test(c.message) ? c : undefined;
    }, 'registry refusal', 120_000);
    expect(cond.status).toBe('False');
  });

  it('without the machine credentials the node pull fails with a clear condition', async () => {
    await writeAuth({});
    await apply(dvYaml('node-denied', `registry:\n  url: docker://${registry.host}/private/disk:v1\n  pullMethod: node`, '16Mi'));
    const cond = await eventually(async () => {
      const c = await running('node-denied');
      return c?.reason === 'ImagePullFailed' ? c : undefined;
    }, 'ImagePullFailed', 120_000);
    expect(cond.message).toContain(`image volume cdi-image-vol ${registry.host}/private/disk:v1`);
    expect(cond.message).toMatch(/denied access/);
    expect((await getDv(serve, 'node-denied')).status?.phase).not.toBe('Succeeded');
    // The pod as kubectl sees it: the image volume, and the importer waiting on its pull.
    const pod = JSON.parse(await run('get', 'pod', 'importer-node-denied', '-o', 'json')) as V1Pod;
    expect(pod.spec?.volumes).toContainEqual({ name: 'cdi-image-vol', image: { reference: `${registry.host}/private/disk:v1`, pullPolicy: 'IfNotPresent' } });
    expect(pod.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('ErrImagePull');
  });

  it('a DataImportCron with pullMethod node polls and imports with the machine credentials', async () => {
    await writeAuth({ [`${registry.host}/private`]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } });
    await apply(`apiVersion: cdi.kubevirt.io/v1beta1
kind: DataImportCron
metadata:
  name: node-cron
spec:
  schedule: "0 0 * * *"
  managedDataSource: node-disk
  template:
    spec:
      source:
        registry:
          url: docker://${registry.host}/private/disk:v1
          pullMethod: node
      storage:
        resources:
          requests:
            storage: 16Mi
`);
    const cron = await eventually(async () => {
      const c = JSON.parse(await run('get', 'dataimportcron', 'node-cron', '-o', 'json')) as DataImportCron;
      return c.status?.lastImportedPVC?.name ? c : undefined;
    }, 'node-cron import', 120_000);
    const name = cron.status!.lastImportedPVC!.name!;
    expect((await getDv(serve, name)).spec?.source?.registry?.pullMethod).toBe('node');
    const got = await digestPrefix(await volumeImage(serve, name), raw.size);
    expect(got.sha256).toBe(raw.sha256);
  });
});
