import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImportConfig } from '../../src/importer/config.ts';
import { makeCerts, type CertFiles } from '../support/certs.ts';
import { sha256File } from '../support/qemu.ts';
import { buildOciLayout, startRegistry, type ImageSpec, type Registry } from '../support/registry.ts';
import { referenceOf, sourceFixtures, type SourceFixtures } from './fixtures.ts';
import { importConfig, importInProcess, targetDir } from './run-import.ts';

const run = promisify(execFile);

let fx: SourceFixtures;
let work: string;
let certs: CertFiles;
let caDir: string;
let open: Registry;
let basic: Registry;
let tokenAnon: Registry;
let tokenAuth: Registry;
let armRef: { digest: string; size: number };
const registries: Registry[] = [];

const disk = (name: string, file: string): ImageSpec['layers'][number] => ({ files: { [`disk/${name}`]: { file } }, compression: 'gzip' });

async function layout(name: string, specs: ImageSpec[]): Promise<string> {
  return buildOciLayout(path.join(work, name), 'v1', specs);
}

async function importImage(url: string, over: Partial<ImportConfig> = {}) {
  const { target } = await targetDir();
  const result = await importInProcess(importConfig({ source: 'registry', endpoint: url, target: { kind: 'file', path: target }, insecureTls: true, ...over }));
  return { ...result, target };
}

beforeAll(async () => {
  fx = await sourceFixtures();
  work = await mkdtemp(path.join(os.tmpdir(), 'cdi-registry-test-'));
  certs = await makeCerts(path.join(work, 'pki'));
  caDir = path.join(work, 'ca');
  await mkdir(caDir);
  await writeFile(path.join(caDir, 'ca.crt'), certs.caPem);
  const f = (name: string): string => path.join(fx.dir, name);
  const arm = path.join(work, 'arm.raw');
  await run('sh', ['-c', `head -c 1048576 ${f('large.raw')} > ${arm} && truncate -s 2M ${arm}`]);
  armRef = { digest: await sha256File(arm), size: 2 << 20 };

  [open, basic, tokenAnon, tokenAuth] = await Promise.all([
    startRegistry(),
    startRegistry({ auth: { kind: 'htpasswd', user: 'tester', password: 's3cret' }, certs }),
    startRegistry({ auth: { kind: 'token' }, certs: await makeCerts(path.join(work, 'pki-token-anon')) }),
    startRegistry({ auth: { kind: 'token', user: 'puller', password: 'pw' }, certs: await makeCerts(path.join(work, 'pki-token-auth')) }),
  ]) as [Registry, Registry, Registry, Registry];
  registries.push(open, basic, tokenAnon, tokenAuth);

  const qcow2Gz = await layout('qcow2-gz', [{ layers: [disk('disk.qcow2', f(fx.files.qcow2))] }]);
  await Promise.all([
    open.push(qcow2Gz, 'v1', 'qcow2-gz'),
    open.push(qcow2Gz, 'v1', 'v2s2', { format: 'v2s2' }),
    basic.push(qcow2Gz, 'v1', 'qcow2-gz'),
    tokenAnon.push(qcow2Gz, 'v1', 'qcow2-gz'),
    tokenAuth.push(qcow2Gz, 'v1', 'qcow2-gz'),
    (async () => open.push(await layout('raw-zstd', [{ layers: [{ files: { 'disk/disk.raw': { file: f(fx.files.raw) } }, compression: 'zstd' }] }]), 'v1', 'raw-zstd'))(),
    (async () => open.push(await layout('rawgz-plain', [{ layers: [{ files: { 'disk/disk.raw.gz': { file: f(fx.files.rawGz) } }, compression: 'none' }] }]), 'v1', 'rawgz-plain'))(),
    (async () => open.push(await layout('multi', [
      { architecture: 'amd64', layers: [disk('disk.qcow2', f(fx.files.qcow2Compressed))] },
      { architecture: 'arm64', layers: [disk('disk.raw', arm)] },
    ]), 'v1', 'multi', { all: true }))(),
    (async () => open.push(await layout('nodisk', [{ layers: [{ files: { 'etc/hostname': { text: 'x\n' } }, compression: 'gzip' }] }]), 'v1', 'nodisk'))(),
    (async () => open.push(await layout('twodisks', [{ layers: [{ files: { 'disk/a.qcow2': { file: f(fx.files.qcow2) }, 'disk/b.raw': { file: arm } }, compression: 'gzip' }] }]), 'v1', 'twodisks'))(),
    (async () => open.push(await layout('twolayers', [{ layers: [disk('a.raw', arm), disk('b.qcow2', f(fx.files.qcow2))] }]), 'v1', 'twolayers'))(),
    (async () => open.push(await layout('whiteout', [{
      env: ['INSTANCETYPE_KUBEVIRT_IO_DEFAULT_INSTANCETYPE=u1.small', 'PATH=/bin'],
      layers: [
        disk('old.raw', arm),
        { files: { 'disk/.wh.old.raw': { text: '' }, 'disk/new.qcow2': { file: f(fx.files.qcow2) } }, compression: 'gzip' },
      ],
    }]), 'v1', 'whiteout'))(),
  ]);
});

afterAll(async () => {
  await Promise.all(registries.map((r) => r.stop()));
});

describe('registry source (docker-registry 2.8 filled by skopeo)', () => {
  it('imports a qcow2 from a gzip OCI layer', async () => {
    const r = await importImage(`docker://${open.host}/qcow2-gz:v1`);
    expect(r.failure).toBeUndefined();
    expect(await sha256File(r.target)).toBe(fx.reference.digest);
    expect(r.status.percent()).toBe(100);
  });

  it('imports Docker schema 2, zstd layers and a raw.gz in an uncompressed layer', async () => {
    for (const repo of ['v2s2', 'raw-zstd', 'rawgz-plain']) {
      const r = await importImage(`docker://${open.host}/${repo}:v1`);
      expect(r.failure, repo).toBeUndefined();
      expect(await sha256File(r.target), repo).toBe(fx.reference.digest);
    }
  });

  it('pulls by digest', async () => {
    const { stdout } = await run('skopeo', ['inspect', '--tls-verify=false', '--format', '{{.Digest}}', `docker://${open.host}/qcow2-gz:v1`]);
    const r = await importImage(`docker://${open.host}/qcow2-gz@${stdout.trim()}`);
    expect(r.failure).toBeUndefined();
    expect(await sha256File(r.target)).toBe(fx.reference.digest);
  });

  it('chooses the platform from a multi-arch index', async () => {
    const amd = await importImage(`docker://${open.host}/multi:v1`);
    expect(await sha256File(amd.target)).toBe((await referenceOf(path.join(fx.dir, fx.files.qcow2Compressed))).digest);
    const arm = await importImage(`docker://${open.host}/multi:v1`, { architecture: 'arm64' });
    expect(await sha256File(arm.target)).toBe(armRef.digest);
    const none = await importImage(`docker://${open.host}/multi:v1`, { architecture: 's390x' });
    expect(none.failure?.error.code).toBe('CDI_ERR_REGISTRY_PLATFORM');
  });

  it("refuses a single image of another architecture with CDI's text", async () => {
    const r = await importImage(`docker://${open.host}/qcow2-gz:v1`, { architecture: 'arm64' });
    expect(r.failure?.message).toBe('Unable to process data: manifest image architecture: "amd64" doesn\'t match requested architecture: "arm64"');
  });

  it('honours whiteouts across layers and returns KUBEVIRT_IO_ env entries as labels', async () => {
    const r = await importImage(`docker://${open.host}/whiteout:v1`);
    expect(r.failure).toBeUndefined();
    expect(await sha256File(r.target)).toBe(fx.reference.digest);
    expect(r.outcome?.labels).toEqual({ 'instancetype.kubevirt.io/default-instancetype': 'u1.small' });
  });

  it("fails with CDI's errors for no disk and for two disks, leaving no target", async () => {
    const none = await importImage(`docker://${open.host}/nodisk:v1`);
    expect(none.failure?.message).toBe('Unable to process data: Failed to find VM disk image file in the container image');
    expect(none.files).toEqual([]);
    for (const repo of ['twodisks', 'twolayers']) {
      const two = await importImage(`docker://${open.host}/${repo}:v1`);
      expect(two.failure?.error.code, repo).toBe('CDI_ERR_REGISTRY_DISKS');
      expect(two.failure?.message).toMatch(/^Unable to process data: image directory contains more than one file/);
      expect(two.files, repo).toEqual([]);
    }
  });

  it('refuses an image larger than the target and tears the layer stream down', async () => {
    const r = await importImage(`docker://${open.host}/qcow2-gz:v1`, { imageSize: 4 << 20 });
    expect(r.failure?.error.code).toBe('CDI_ERR_TOO_LARGE');
    expect(r.files).toEqual([]);
  });

  it('fails on a missing tag and a missing repository', async () => {
    const r = await importImage(`docker://${open.host}/qcow2-gz:nope`);
    expect(r.failure?.error.code).toBe('CDI_ERR_REGISTRY');
    expect(r.failure?.message).toMatch(/MANIFEST_UNKNOWN/);
  });

  it('uses basic auth over TLS with a CA from the cert dir', async () => {
    const ok = await importImage(`docker://${basic.host}/qcow2-gz:v1`, { insecureTls: false, certDir: caDir, accessKey: 'tester', secretKey: 's3cret' });
    expect(ok.failure).toBeUndefined();
    expect(await sha256File(ok.target)).toBe(fx.reference.digest);
    const anonymous = await importImage(`docker://${basic.host}/qcow2-gz:v1`, { insecureTls: false, certDir: caDir });
    expect(anonymous.failure?.error.code).toBe('CDI_ERR_REGISTRY_AUTH');
    const untrusted = await importImage(`docker://${basic.host}/qcow2-gz:v1`, { insecureTls: false, accessKey: 'tester', secretKey: 's3cret' });
    expect(untrusted.failure?.message).toMatch(/certificate/);
  });

  it('answers Bearer challenges anonymously and with credentials', async () => {
    const anon = await importImage(`docker://${tokenAnon.host}/qcow2-gz:v1`);
    expect(anon.failure).toBeUndefined();
    expect(await sha256File(anon.target)).toBe(fx.reference.digest);
    const withCreds = await importImage(`docker://${tokenAuth.host}/qcow2-gz:v1`, { accessKey: 'puller', secretKey: 'pw' });
    expect(withCreds.failure).toBeUndefined();
    expect(await sha256File(withCreds.target)).toBe(fx.reference.digest);
    const denied = await importImage(`docker://${tokenAuth.host}/qcow2-gz:v1`);
    expect(denied.failure?.error.code).toBe('CDI_ERR_REGISTRY_AUTH');
  });

  it('refuses malformed references', async () => {
    const r = await importImage('docker://Bad_Repo:x');
    expect(r.failure?.error.code).toBe('CDI_ERR_REGISTRY_URL');
  });
});

describe('registry source against a registry that lies', () => {
  it('checks blob digests, and never sends credentials to a redirect target on another origin', async () => {
    const diskBlob = Buffer.from('not the blob the manifest names');
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux' }));
    const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
    const manifest = JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${'0'.repeat(64)}`, size: diskBlob.length }],
    });
    const seenByStorage: Array<string | undefined> = [];
    const storage = http.createServer((req, res) => { seenByStorage.push(req.headers.authorization); res.end(diskBlob); });
    await new Promise<void>((r) => storage.listen(0, '127.0.0.1', r));
    const storagePort = (storage.address() as AddressInfo).port;
    const registry = http.createServer((req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/token')) { res.end(JSON.stringify({ token: 'tok' })); return; }
      if (req.headers.authorization !== 'Bearer tok') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="http://127.0.0.1:${(registry.address() as AddressInfo).port}/token",service="fake"` }).end();
        return;
      }
      if (url === '/v2/') { res.end('{}'); return; }
      if (url.includes('/manifests/')) { res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end(manifest); return; }
      if (url.endsWith(sha(config))) { res.end(config); return; }
      res.writeHead(307, { location: `http://localhost:${storagePort}/blob` }).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    try {
      const r = await importImage(`docker://127.0.0.1:${(registry.address() as AddressInfo).port}/fake:v1`);
      expect(r.failure?.error.code).toBe('CDI_ERR_REGISTRY_DIGEST');
      expect(r.files).toEqual([]);
      expect(seenByStorage).toEqual([undefined]);
    } finally {
      registry.closeAllConnections();
      storage.closeAllConnections();
      registry.close();
      storage.close();
    }
  });
});

describe('registry source over connections that drop', () => {
  /**
   * A reverse proxy in front of the real registry that cuts every blob's first transfer after a
   * third of its bytes. With `ignoreRange` it also strips Range, so the registry answers a
   * resume with the whole blob again (200).
   */
  async function droppingProxy(upstream: string, opts: { ignoreRange: boolean }) {
    const seen: Array<{ path: string; range: string | undefined; status: number }> = [];
    const cut = new Set<string>();
    const server = http.createServer((req, res) => {
      const url = req.url ?? '/';
      const isBlob = /\/blobs\/sha256:/.test(url);
      const headers = { ...req.headers, host: upstream };
      if (opts.ignoreRange) delete headers.range;
      const up = http.request(`http://${upstream}${url}`, { method: req.method, headers }, (answer) => {
        seen.push({ path: url, range: req.headers.range, status: answer.statusCode ?? 0 });
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        const length = Number(answer.headers['content-length'] ?? 0);
        if (!isBlob || cut.has(url) || answer.statusCode !== 200 || length < 3) {
          answer.pipe(res);
          return;
        }
        cut.add(url);
        let sent = 0;
        answer.on('data', (chunk: Buffer) => {
          const room = Math.floor(length / 3) - sent;
          if (room <= 0) return;
          sent += Math.min(room, chunk.byteLength);
          const last = sent >= Math.floor(length / 3);
          if (last) answer.destroy();
          // The cut comes once the third is on the wire, so the client holds those bytes.
          res.write(chunk.subarray(0, room), () => {
            if (last) res.socket?.destroy();
          });
        });
      });
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      seen,
      cut,
      close: () => {
        server.closeAllConnections();
        server.close();
      },
    };
  }

  it.each([
    { ignoreRange: false, how: 'from the next byte (206)' },
    { ignoreRange: true, how: 'past the bytes already had when the registry ignores Range (200)' },
  ])('resumes a blob cut off mid-way $how, byte-identical to qemu-img convert', async ({ ignoreRange }) => {
    const proxy = await droppingProxy(open.host, { ignoreRange });
    try {
      const r = await importImage(`docker://${proxy.host}/qcow2-gz:v1`);
      expect(r.failure).toBeUndefined();
      expect(await sha256File(r.target)).toBe(fx.reference.digest);
      expect(proxy.cut.size).toBeGreaterThan(0);
      const resumed = proxy.seen.filter((s) => s.range !== undefined);
      expect(resumed.length).toBeGreaterThan(0);
      expect(resumed.every((s) => s.status === (ignoreRange ? 200 : 206))).toBe(true);
      // Every blob that was cut (the config and the layer) continued from a byte past 0.
      expect(new Set(resumed.map((s) => s.path))).toEqual(proxy.cut);
    } finally {
      proxy.close();
    }
  });
});
