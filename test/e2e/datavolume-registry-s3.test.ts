import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCerts } from '../support/certs.ts';
import { kubectl, kubectlWithInput } from '../support/kubectl.ts';
import { buildOciLayout, startRegistry, type Registry } from '../support/registry.ts';
import { sourceFixtures, type SourceFixtures } from '../sources/fixtures.ts';
import { digestPrefix, dvYaml, volumeImage, waitPhase } from './support.ts';
import { startServe, type Serve } from '../support/serve.ts';

/**
 * End to end through `cdi serve` and kubectl for the registry and S3 sources: a containerDisk
 * pushed by skopeo to Debian's docker-registry (TLS, its CA handed over in a certConfigMap; and
 * plain HTTP, listed in CDIConfig spec.insecureRegistries), and an object in s3rver read with keys
 * from a Secret. Both volumes are compared with qemu-img's raw conversion of the qcow2.
 */
let serve: Serve;
let registry: Registry;
let plainRegistry: Registry;
let s3: S3rver;
let s3Base: string;
let fx: SourceFixtures;
let work: string;

async function run(...args: string[]): Promise<void> {
  const r = await kubectl(serve.kubeconfig, ...args);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
}

async function apply(yaml: string): Promise<void> {
  const r = await kubectlWithInput(serve.kubeconfig, yaml, 'apply', '-f', '-');
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

async function expectQcow2Image(dv: string): Promise<void> {
  const got = await digestPrefix(await volumeImage(serve, dv), fx.reference.size);
  expect(got.sha256, `${dv} bytes vs qemu-img convert -O raw of ${fx.files.qcow2}`).toBe(fx.reference.digest);
  expect(got.restZero).toBe(true);
  expect(got.size).toBeGreaterThanOrEqual(fx.reference.size);
}

beforeAll(async () => {
  fx = await sourceFixtures();
  work = await mkdtemp(path.join(os.tmpdir(), 'cdi-e2e-registry-s3-'));
  const certs = await makeCerts(path.join(work, 'pki'));
  await mkdir(path.join(work, 's3'));
  s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(work, 's3'), configureBuckets: [{ name: 'images', configs: [] }] });
  let address: AddressInfo;
  [serve, registry, plainRegistry, address] = await Promise.all([startServe(), startRegistry({ certs }), startRegistry(), s3.run()]);
  s3Base = `http://127.0.0.1:${address.port}`;
  const qcow2 = path.join(fx.dir, fx.files.qcow2);
  const layout = await buildOciLayout(path.join(work, 'layout'), 'v1', [{ layers: [{ files: { 'disk/disk.qcow2': { file: qcow2 } }, compression: 'gzip' }] }]);
  await registry.push(layout, 'v1', 'containerdisk');
  await plainRegistry.push(layout, 'v1', 'containerdisk');
  const put = await fetch(`${s3Base}/images/golden/${fx.files.qcow2}`, { method: 'PUT', body: await readFile(qcow2) });
  expect(put.status).toBe(200);
  await run('create', 'configmap', 'registry-ca', `--from-file=ca.pem=${certs.caCert}`);
  await run('create', 'secret', 'generic', 's3-creds', '--from-literal=accessKeyId=S3RVER', '--from-literal=secretKey=S3RVER');
});

afterAll(async () => {
  await Promise.all([serve?.stop(), registry?.stop(), plainRegistry?.stop(), s3?.close()]);
  if (work) await rm(work, { recursive: true, force: true });
});

describe('registry and S3 DataVolumes through cdi serve and kubectl', () => {
  it('imports a containerDisk from a TLS registry trusted through certConfigMap', async () => {
    await apply(dvYaml('reg-disk', `registry:\n  url: docker://${registry.host}/containerdisk:v1\n  certConfigMap: registry-ca`));
    const dv = await waitPhase(serve, 'reg-disk', 'Succeeded', 120_000);
    expect(dv.status?.progress).toBe('100.0%');
    await expectQcow2Image('reg-disk');
  });

  it('imports from a plain-HTTP registry listed in CDIConfig spec.insecureRegistries', async () => {
    await run('patch', 'cdiconfig', 'config', '--type', 'merge', '-p', JSON.stringify({ spec: { insecureRegistries: [plainRegistry.host] } }));
    await apply(dvYaml('plain-reg-disk', `registry:\n  url: docker://${plainRegistry.host}/containerdisk:v1`));
    const dv = await waitPhase(serve, 'plain-reg-disk', 'Succeeded', 120_000);
    expect(dv.status?.progress).toBe('100.0%');
    await expectQcow2Image('plain-reg-disk');
  });

  it('imports a qcow2 object from s3rver with keys from a Secret', async () => {
    await apply(dvYaml('s3-disk', `s3:\n  url: ${s3Base}/images/golden/${fx.files.qcow2}\n  secretRef: s3-creds`));
    const dv = await waitPhase(serve, 's3-disk', 'Succeeded', 120_000);
    expect(dv.status?.progress).toBe('100.0%');
    await expectQcow2Image('s3-disk');
  });
});
