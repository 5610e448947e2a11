import { mkdir, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { makeCerts, type CertFiles } from '../support/certs.ts';
import { eventually } from '../support/eventually.ts';
import { startNginx, type Nginx } from '../support/nginx.ts';
import { sha256File } from '../support/qemu.ts';
import { gzipTo, stackedSnapshotsImage } from '../support/spilling-image.ts';
import { startBadServer, type BadServer } from '../sources/bad-server.ts';
import { grownDigest, sourceFixtures, type SourceFixtures } from '../sources/fixtures.ts';
import { targetDir } from '../sources/run-import.ts';
import { runWorker, startWorker } from './worker-process.ts';

const MiB = 1 << 20;
let fx: SourceFixtures;
let nginx: Nginx;
let bad: BadServer;
let certs: CertFiles;

async function worker(env: Record<string, string>) {
  const { dir, target } = await targetDir();
  const run = await runWorker({ CDI_TARGET_PATH: target, OWNER_UID: 'uid-1', ...env }, path.join(dir, 'termination-log'));
  return { ...run, dir, target, files: (await readdir(dir)).filter((f) => f !== 'termination-log') };
}

beforeAll(async () => {
  fx = await sourceFixtures();
  const { dir } = await targetDir();
  certs = await makeCerts(path.join(dir, 'pki'));
  nginx = await startNginx({ root: fx.dir, certs });
  bad = await startBadServer(fx.dir);
});

afterAll(async () => {
  await nginx?.stop();
  await bad?.stop();
});

describe('importer worker process (CDI env contract)', () => {
  it('imports qcow2 over HTTP into the usable size, fsyncs, and says "Import Complete"', async () => {
    const r = await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.plain}/${fx.files.qcow2}`, IMPORTER_IMAGE_SIZE: '16Mi', FILESYSTEM_OVERHEAD: '0.055' });
    expect(r.code, r.stdout).toBe(0);
    const message = JSON.parse(r.termination) as Record<string, unknown>;
    expect(message).toMatchObject({ message: 'Import Complete', preallocationApplied: false, stage: 'Complete' });
    expect(message.bytesDone).toBeGreaterThan(0);
    // CDI: roundDown(ceil(16Mi / 1.055), 1Mi) = 15Mi.
    expect((await stat(r.target)).size).toBe(15 * MiB);
    expect((await stat(r.target)).mode & 0o777).toBe(0o660);
    expect(await sha256File(r.target)).toBe(await grownDigest(path.join(fx.dir, fx.files.qcow2), 15 * MiB));
  });

  it('takes basic-auth keys and a CA directory from the env over TLS', async () => {
    const { dir } = await targetDir();
    const { mkdir, copyFile } = await import('node:fs/promises');
    await mkdir(path.join(dir, 'certs'));
    await copyFile(certs.caCert, path.join(dir, 'certs', 'tls.crt'));
    const r = await worker({
      IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.tlsAuth}/${fx.files.rawXz}`, IMPORTER_CERT_DIR: path.join(dir, 'certs'),
      IMPORTER_ACCESS_KEY_ID: nginx.user, IMPORTER_SECRET_KEY: nginx.password,
    });
    expect(r.code, r.termination).toBe(0);
    expect(await sha256File(r.target)).toBe(fx.reference.digest);
  });

  it('verifies a checksum, and on a mismatch exits 0 with JSON "checksum validation failed" and no target', async () => {
    const digest = await sha256File(path.join(fx.dir, fx.files.qcow2Gz));
    const ok = await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.plain}/${fx.files.qcow2Gz}`, IMPORTER_CHECKSUM: `sha256:${digest}` });
    expect(ok.code).toBe(0);
    expect(await sha256File(ok.target)).toBe(fx.reference.digest);
    const bad = await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.plain}/${fx.files.qcow2Gz}`, IMPORTER_CHECKSUM: `sha256:${'0'.repeat(64)}` });
    expect(bad.code).toBe(0);
    expect((JSON.parse(bad.termination) as { message: string }).message).toMatch(/^checksum validation failed: .*checksum mismatch/);
    expect(bad.files).toEqual([]);
  });

  it('refuses an image larger than the volume ("A larger PVC is required") and writes nothing', async () => {
    const r = await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.plain}/${fx.files.qcow2}`, IMPORTER_IMAGE_SIZE: '4Mi' });
    expect(r.code).toBe(1);
    expect(r.termination).toMatch(/^Unable to process data: virtual image size 8388608 is larger than the reported available storage 4194304\. A larger PVC is required \(stage: \w+, \d+ bytes done\)$/);
    expect(r.files).toEqual([]);
  });

  it('stops a stream that would keep more in scratch than the volume holds (CDI_ERR_SCRATCH_LIMIT), and imports it into a volume that holds it', async () => {
    const image = await stackedSnapshotsImage();
    const { dir: served } = await targetDir();
    await gzipTo(image.file, path.join(served, 'stacked.qcow2.gz'));
    const scratch = path.join(served, 'scratch');
    await mkdir(scratch);
    const host = await startNginx({ root: served });
    try {
      const env = { IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${host.plain}/stacked.qcow2.gz`, CDI_SCRATCH_DIR: scratch };
      // 2 MiB usable (no filesystem overhead set), and about 3 MiB of snapshot data passes before the tables.
      const small = await worker({ ...env, IMPORTER_IMAGE_SIZE: '2Mi' });
      expect(small.code, small.stdout).toBe(1);
      expect(small.termination).toMatch(/^Unable to process data: scratch space limit of 2097152 bytes exceeded \(stage: \w+, \d+ bytes done\)$/);
      expect(small.files).toEqual([]);
      expect(await readdir(scratch)).toEqual([]);
      const large = await worker({ ...env, IMPORTER_IMAGE_SIZE: '16Mi' });
      expect(large.code, large.termination).toBe(0);
      expect(await sha256File(large.target)).toBe(await grownDigest(image.file, 16 * MiB));
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      await host.stop();
    }
  });

  it("reports CDI's connection errors as plain text with exit 1", async () => {
    const r = await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.plain}/missing.qcow2` });
    expect(r.code).toBe(1);
    expect(r.termination).toBe('Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found (stage: Info, 0 bytes done)');
    const unknown = await worker({ IMPORTER_SOURCE: 'ftp', IMPORTER_ENDPOINT: 'ftp://x/y' });
    expect(unknown.code).toBe(1);
    expect(unknown.termination).toBe('Unknown data source: ftp');
  });

  it('exits 64 with the termination message on a configuration error, as the other workers do', async () => {
    const r = await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.plain}/${fx.files.qcow2}`, IMPORTER_CONTENTTYPE: 'iso' });
    expect(r.code).toBe(64);
    expect(r.termination).toBe('invalid importer configuration: unknown content type iso');
    expect(r.stdout).toContain('"code":"CDI_ERR_WORKER_CONFIG"');
    expect(r.files).toEqual([]);
  });

  it('extracts an archive into the target directory', async () => {
    const { dir } = await targetDir();
    const r = await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${nginx.plain}/${fx.files.tar}`, IMPORTER_CONTENTTYPE: 'archive', CDI_TARGET_PATH: dir });
    expect(r.code, r.termination).toBe(0);
    expect((await readdir(dir)).sort()).toEqual([fx.files.rawGz, fx.files.text].sort());
  });

  it('creates a sparse blank disk of the usable size, and refuses blank archives', async () => {
    const r = await worker({ IMPORTER_SOURCE: 'none', IMPORTER_IMAGE_SIZE: '64Mi', FILESYSTEM_OVERHEAD: '0' });
    expect(r.code, r.termination).toBe(0);
    const info = await stat(r.target);
    expect(info.size).toBe(64 * MiB);
    expect(info.blocks).toBe(0);
    expect(info.mode & 0o777).toBe(0o660);
    const pre = await worker({ IMPORTER_SOURCE: 'none', IMPORTER_IMAGE_SIZE: '8Mi', PREALLOCATION: 'true' });
    expect(JSON.parse(pre.termination)).toMatchObject({ preallocationApplied: true, message: 'Import Complete' });
    expect((await stat(pre.target)).blocks * 512).toBeGreaterThanOrEqual(8 * MiB);
    const archive = await worker({ IMPORTER_SOURCE: 'none', IMPORTER_IMAGE_SIZE: '8Mi', IMPORTER_CONTENTTYPE: 'archive' });
    expect(archive.code).toBe(1);
    expect(archive.termination).toMatch(/^Cannot create empty disk with content type archive/);
  });

  it('serves progress on HTTPS /metrics while importing, and stops cleanly on SIGTERM', async () => {
    const { dir, target } = await targetDir();
    const handle = startWorker({
      CDI_TARGET_PATH: target, OWNER_UID: 'uid-9', IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${bad.url}/stall/${fx.files.raw}`,
    }, path.join(dir, 'termination-log'));
    const port = await handle.metricsPort;
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    let text = '';
    const progress = (): number => Number(/kubevirt_cdi_import_progress_total\{ownerUID="uid-9"\} ([\d.e-]+)/.exec(text)?.[1] ?? 0);
    const transferring = (): boolean => progress() > 0 && /stage="TransferDataFile"\} 1/.test(text);
    await eventually(async () => {
      text = await (await request(`https://127.0.0.1:${port}/metrics`, { dispatcher })).body.text();
      return transferring();
    }, 'the metrics to show the transfer under way', 20_000);
    // 64 KiB of 8 MiB arrived before the server went silent.
    expect(progress()).toBeCloseTo(100 * (64 / 8192), 2);
    expect(text).toMatch(/kubevirt_cdi_import_bytes_processed\{ownerUID="uid-9"\} 65536/);
    expect(text).toMatch(/kubevirt_cdi_import_stage\{ownerUID="uid-9",stage="TransferDataFile"\} 1/);
    await dispatcher.close();
    handle.kill('SIGTERM');
    const r = await handle.done;
    expect(r.code).toBe(1);
    expect(r.termination).toMatch(/^Unable to process data: aborted: SIGTERM \(stage: TransferDataFile, 65536 bytes done\)$/);
    expect((await readdir(dir)).filter((f) => f !== 'termination-log')).toEqual([]);
  });

  it('exits when done even while a scraper holds an idle connection to /metrics', async () => {
    const net = await import('node:net');
    const { dir, target } = await targetDir();
    const handle = startWorker({
      CDI_TARGET_PATH: target, OWNER_UID: 'uid-2', IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${bad.url}/slow/${fx.files.rawGz}`,
    }, path.join(dir, 'termination-log'));
    const port = await handle.metricsPort;
    const idle = net.connect(port, '127.0.0.1');
    idle.on('error', () => {});
    await new Promise((r) => idle.once('connect', r));
    const r = await handle.done;
    idle.destroy();
    expect(r.code, r.stdout).toBe(0);
    expect(JSON.parse(r.termination)).toMatchObject({ message: 'Import Complete' });
  });
});
