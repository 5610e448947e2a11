import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pack } from 'tar-stream';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { stackedSnapshotsImage } from '../support/spilling-image.ts';
import {
  curl,
  headerValue,
  sha256File,
  startTestUploadServer,
  uploadCerts,
  uploadFixtures,
  type RunningUploadServer,
  type UploadCerts,
  type UploadFixtures,
} from './harness.ts';

let certs: UploadCerts;
let fx: UploadFixtures;
const servers: RunningUploadServer[] = [];

beforeAll(async () => {
  [certs, fx] = await Promise.all([uploadCerts(), uploadFixtures()]);
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(opts: Parameters<typeof startTestUploadServer>[0] = {}): Promise<RunningUploadServer> {
  const s = await startTestUploadServer(opts);
  servers.push(s);
  return s;
}

/** curl as the upload proxy would connect: with the client certificate CDI's server expects. */
const mtls = (): string[] => ['--cert', certs.proxyClientCert, '--key', certs.proxyClientCert.replace(/\.crt$/, '.key')];

describe('upload server', () => {
  it('answers /healthz without a client certificate and refuses uploads without the right one', async () => {
    const s = await server();
    expect(await curl([`${s.url}/healthz`])).toMatchObject({ status: 200, body: 'OK' });
    expect((await curl(['-X', 'POST', '--data-binary', 'x', `${s.url}/v1beta1/upload`])).status).toBe(401);
    const wrongCn = await curl(['--cert', certs.clientCert, '--key', certs.clientKey, '-X', 'POST', '--data-binary', 'x', `${s.url}/v1beta1/upload`]);
    expect(wrongCn.status).toBe(401);
    expect(s.session.phase).toBe('idle');
  });

  it('HEAD on async paths is 200, other methods 404', async () => {
    const s = await server();
    for (const p of ['/v1beta1/upload-async', '/v1alpha1/upload-form-async']) {
      expect((await curl([...mtls(), '-I', `${s.url}${p}`])).status).toBe(200);
    }
    expect((await curl([...mtls(), `${s.url}/v1beta1/upload`])).status).toBe(404);
    expect((await curl([...mtls(), '-X', 'PUT', `${s.url}/v1beta1/upload`])).status).toBe(404);
  });

  it('streams an octet-stream qcow2 into the volume, byte-identical to qemu-img convert, then 409', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const res = await curl([...mtls(), '-X', 'POST', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`]);
    expect(res).toMatchObject({ status: 200, body: '' });
    expect(await sha256File(s.target)).toBe(fx.qcow2RawSha);
    expect(s.completed).toHaveLength(1);
    expect(s.completed[0]).toMatchObject({ format: 'qcow2', spillBytes: 0 });
    const again = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload-async`]);
    expect(again.status).toBe(409);
  });

  it('takes the multipart part named "file" (form upload of qcow2)', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const res = await curl([...mtls(), '-F', 'note=hello', '-F', `file=@${fx.qcow2}`, `${s.url}/v1beta1/upload-form-async`]);
    expect(res.status).toBe(200);
    expect(await sha256File(s.target)).toBe(fx.qcow2RawSha);
    const noFile = await server();
    const bad = await curl([...mtls(), '-F', 'other=@' + fx.qcow2, `${noFile.url}/v1beta1/upload-form`]);
    expect(bad.status).toBe(400);
    const notForm = await curl([...mtls(), '-X', 'POST', '--data-binary', 'abc', `${noFile.url}/v1beta1/upload-form`]);
    expect(notForm.status).toBe(400);
  });

  it('refuses an image larger than the volume with CDI text and writes nothing past capacity', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const res = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${fx.big}`, `${s.url}/v1beta1/upload`]);
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/^Saving stream failed: effective image size is larger than the reported available storage: /);
    const size = await stat(s.target).then((st) => st.size, () => 0);
    expect(size).toBeLessThanOrEqual(fx.virtualSize);
    expect(s.session.phase).toBe('idle');
    // The server stays up and the next, fitting upload works.
    const ok = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`]);
    expect(ok.status).toBe(200);
    expect(await sha256File(s.target)).toBe(fx.qcow2RawSha);
  });

  it('stops an upload that would keep more in scratch than the volume holds (CDI_ERR_SCRATCH_LIMIT) and leaves nothing behind', async () => {
    const image = await stackedSnapshotsImage();
    const s = await server({ imageSize: 2 * 1024 * 1024 });
    const res = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${image.file}`, `${s.url}/v1beta1/upload`]);
    expect(res.status).toBe(500);
    expect(res.body).toBe('Saving stream failed: scratch space limit of 2097152 bytes exceeded');
    expect(s.session.phase).toBe('idle');
    // The harness's scratch directory is the volume's own directory: neither target nor spill file is left.
    expect(await readdir(s.dir)).toEqual([]);
  });

  it('refuses a second upload while one is running (503)', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const size = (await stat(fx.qcow2)).size;
    const child = spawn('curl', ['-sS', '--cacert', certs.caCert, ...mtls(), '-X', 'POST', '-H', `Content-Length: ${size}`, '-H', 'Transfer-Encoding:', '-T', '-', `${s.url}/v1beta1/upload`], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.stdin.on('error', () => undefined);
    child.stdin.write(Buffer.alloc(64 * 1024, 0));
    await eventually(() => s.session.phase === 'receiving', 'session phase === receiving');
    const second = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`]);
    expect(second.status).toBe(503);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
  });

  it('extracts archives and refuses entries that climb out of the volume', async () => {
    const s = await server({ contentType: 'archive', imageSize: 64 * 1024 * 1024 });
    const evil = await tarFile(path.join(s.dir, '..', `evil-${process.pid}.tar`), [
      { name: 'ok.txt', data: 'fine' },
      { name: '../escaped.txt', data: 'bad' },
    ]);
    const res = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${evil}`, `${s.url}/v1beta1/upload-archive`]);
    expect(res.status).toBe(500);
    expect(res.body).toMatch(/^Saving stream failed: .*outside the target directory/);
    await expect(stat(path.join(s.dir, '..', 'escaped.txt'))).rejects.toThrow();
    const good = await tarFile(path.join(s.dir, '..', `good-${process.pid}.tar`), [{ name: 'a/b.txt', data: 'hello' }]);
    const ok = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${good}`, `${s.url}/v1beta1/upload-archive`]);
    expect(ok.status).toBe(200);
    expect(await readdir(path.join(s.dir, 'a'))).toEqual(['b.txt']);
  });

  it('answers an archive entry name too long for the filesystem with the archive error (CDI: 500 for a bad stream)', async () => {
    const s = await server({ contentType: 'archive', imageSize: 64 * 1024 * 1024 });
    const long = await tarFile(path.join(s.dir, '..', `long-${process.pid}.tar`), [{ name: `${'n'.repeat(300)}.txt`, data: 'x' }]);
    const res = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${long}`, `${s.url}/v1beta1/upload-archive`]);
    expect(res.status).toBe(500);
    expect(res.body).toMatch(/^Saving stream failed: invalid tar archive: entry name has a component longer than 255 bytes/);
    expect(await readdir(s.dir)).toEqual([]);
    const good = await tarFile(path.join(s.dir, '..', `fine-${process.pid}.tar`), [{ name: 'a.txt', data: 'hello' }]);
    expect((await curl([...mtls(), '-X', 'POST', '--data-binary', `@${good}`, `${s.url}/v1beta1/upload-archive`])).status).toBe(200);
  });

  it('checks the x-cdi-checksum header before declaring the volume done', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const wrong = `sha256:${'0'.repeat(64)}`;
    const bad = await curl([...mtls(), '-X', 'POST', '-H', `x-cdi-checksum: ${wrong}`, '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`]);
    expect(bad.status).toBe(500);
    expect(bad.body).toMatch(/checksum mismatch/);
    expect(s.completed).toHaveLength(0);
    const malformed = await curl([...mtls(), '-X', 'POST', '-H', 'x-cdi-checksum: sha256:xyz', '--data-binary', 'abc', `${s.url}/v1beta1/upload`]);
    expect(malformed.status).toBe(400);
    const right = `sha256:${await sha256File(fx.qcow2)}`;
    const ok = await curl([...mtls(), '-X', 'POST', '-H', `x-cdi-checksum: ${right}`, '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`]);
    expect(ok.status).toBe(200);
    expect(s.completed[0]?.checksum).toBe(right);
  });

  it('keeps a cut-off upload for a continuation (Content-Range via curl -C) and ends byte-identical', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const size = (await stat(fx.qcow2)).size;
    const half = await killHalfWay(s, size);
    const head = await curl([...mtls(), '-I', `${s.url}/v1beta1/upload`]);
    expect(headerValue(head.headers, 'upload-state')).toBe('interrupted');
    const offset = Number(headerValue(head.headers, 'upload-offset'));
    expect(offset).toBeGreaterThanOrEqual(half);
    const wrongOffset = await curl([...mtls(), '-X', 'POST', '-H', 'Upload-Offset: 5', '--data-binary', 'abc', `${s.url}/v1beta1/upload`]);
    expect(wrongOffset.status).toBe(416);
    const rest = await curl([...mtls(), '-X', 'POST', '-T', fx.qcow2, '-C', String(offset), `${s.url}/v1beta1/upload`]);
    expect(rest.status).toBe(200);
    expect(await sha256File(s.target)).toBe(fx.qcow2RawSha);
  });

  it('ends a multipart upload cut before its closing boundary, so a new one can start', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const half = Math.floor((await stat(fx.qcow2)).size / 2);
    // curl reads a form's file whole before sending; a rate limit keeps it mid-body long enough.
    const child = spawn('curl', ['-sS', '--cacert', certs.caCert, ...mtls(), '--limit-rate', '8M', '-F', `file=@${fx.qcow2}`, `${s.url}/v1beta1/upload-form`], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    await eventually(() => s.session.offset >= half, 'session offset >= half');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    await eventually(() => s.session.phase === 'idle', 'session phase === idle');
    const res = await curl([...mtls(), '-F', `file=@${fx.qcow2}`, `${s.url}/v1beta1/upload-form`]);
    expect(res.status).toBe(200);
    expect(await sha256File(s.target)).toBe(fx.qcow2RawSha);
  });

  it('cuts a body that stops sending (idle timeout), so the upload is freed for a new one', async () => {
    const s = await server({ imageSize: fx.virtualSize, idleBodyMs: 500 });
    const child = spawn('curl', ['-sS', '--cacert', certs.caCert, ...mtls(), '--limit-rate', '2M', '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`], {
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const exited = once(child, 'exit') as Promise<[number | null]>;
    await eventually(() => s.session.offset > 0, 'session offset > 0');
    // a client that goes silent mid-body: the server, not the client, has to end this
    child.kill('SIGSTOP');
    await eventually(() => s.session.phase === 'interrupted', 'session phase === interrupted');
    child.kill('SIGCONT');
    const [code] = await exited;
    expect(code).not.toBe(0);
    const res = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`]);
    expect(res.status).toBe(200);
    expect(await sha256File(s.target)).toBe(fx.qcow2RawSha);
  });

  it('answers 400 to a multipart request without a boundary', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    const res = await curl([...mtls(), '-X', 'POST', '-H', 'Content-Type: multipart/form-data', '--data-binary', 'abc', `${s.url}/v1beta1/upload-form`]);
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/^invalid multipart upload: /);
    expect(s.session.phase).toBe('idle');
  });

  it('starts over when a cut-off upload is simply retried', async () => {
    const s = await server({ imageSize: fx.virtualSize });
    await killHalfWay(s, (await stat(fx.qcow2)).size);
    const res = await curl([...mtls(), '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${s.url}/v1beta1/upload`]);
    expect(res.status).toBe(200);
    expect(await sha256File(s.target)).toBe(fx.qcow2RawSha);
  });
});

/** Sends the first half of the qcow2 through curl's stdin, then kills curl; returns the bytes sent. */
async function killHalfWay(s: RunningUploadServer, size: number): Promise<number> {
  const half = Math.floor(size / 2);
  const child = spawn('curl', ['-sS', '--cacert', certs.caCert, ...mtls(), '-X', 'POST', '-H', `Content-Length: ${size}`, '-H', 'Transfer-Encoding:', '-T', '-', `${s.url}/v1beta1/upload`], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  child.stdin.on('error', () => undefined);
  const head = createReadStream(fx.qcow2, { start: 0, end: half - 1 });
  head.pipe(child.stdin, { end: false });
  await eventually(() => s.session.offset >= half, 'session offset >= half');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('close', r));
  await eventually(() => s.session.phase === 'interrupted', 'session phase === interrupted');
  return half;
}

async function tarFile(file: string, entries: Array<{ name: string; data: string }>): Promise<string> {
  const p = pack();
  for (const e of entries) p.entry({ name: e.name }, e.data);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  await writeFile(file, Buffer.concat(chunks));
  return file;
}
