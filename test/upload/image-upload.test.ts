import { execFile, spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { signUploadToken } from '../../src/api/upload-token.ts';
import { transferImage } from '../../src/cli/upload/transfer.ts';
import {
  TableResolver,
  sha256File,
  startTestProxy,
  startTestUploadServer,
  uploadCerts,
  uploadFixtures,
  type RunningUploadServer,
  type UploadCerts,
  type UploadFixtures,
} from './harness.ts';

const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
const run = promisify(execFile);

// Every text is covered by src/cli/upload/flags.test.ts; these check the command's exit code and output.
describe('cdi image-upload: client-side validation', () => {
  it.each([
    [['dv', 'disk'], 'either image-path or archive-path must be provided'],
    [['dv', 'disk', '--image-path', 'a', '--archive-path', 'b'], 'cannot handle both image-path and archive-path, provide only one'],
    [['dv', 'disk', '--archive-path', 'a.tar', '--block-volume'], 'In archive upload the volume mode should always be filesystem'],
  ])('%j exits 64 with virtctl text', async (args, text) => {
    const err = await run(cdi, ['image-upload', ...args]).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err?.code).toBe(64);
    expect(err?.stderr).toContain(text);
  });
});

describe('cdi image-upload: transfer half against the upload proxy', () => {
  let certs: UploadCerts;
  let fx: UploadFixtures;
  const resolver = new TableResolver();
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  const volumes: RunningUploadServer[] = [];

  beforeAll(async () => {
    [certs, fx] = await Promise.all([uploadCerts(), uploadFixtures()]);
    proxy = await startTestProxy(resolver, { readyTimeoutMs: 300 });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all(volumes.map((v) => v.close()));
  });

  async function volume(name: string, imageSize = fx.virtualSize): Promise<RunningUploadServer> {
    const v = await startTestUploadServer({ imageSize });
    volumes.push(v);
    resolver.table.set(`ns/${name}`, { kind: 'ready', url: v.url, contentType: 'kubevirt' });
    return v;
  }

  const base = (name: string, extra: Partial<Parameters<typeof transferImage>[0]> = {}) => {
    const tokens: string[] = [];
    const lines: string[] = [];
    const opts: Parameters<typeof transferImage>[0] = {
      proxyUrl: proxy.url,
      file: fx.qcow2,
      getToken: async () => {
        const t = await signUploadToken(proxy.keys.privatePem, { name, namespace: 'ns' });
        tokens.push(t);
        return t;
      },
      retries: 3,
      insecure: false,
      ca: certs.caPem,
      resume: false,
      backoffMs: 50,
      log: (l) => lines.push(l),
      ...extra,
    };
    return { opts, tokens, lines };
  };

  it('probes async with HEAD, POSTs with Content-Length, and the volume matches qemu-img convert', async () => {
    const v = await volume('plain');
    const started: Array<[string, number, number]> = [];
    let last = 0;
    const { opts } = base('plain', { onStart: (u, t, o) => started.push([u, t, o]), onProgress: (s) => (last = s) });
    const result = await transferImage(opts);
    expect(result).toEqual({ url: `${proxy.url}/v1beta1/upload-async`, async: true });
    const size = (await stat(fx.qcow2)).size;
    expect(started).toEqual([[`${proxy.url}/v1beta1/upload-async`, size, 0]]);
    expect(last).toBe(size);
    expect(await sha256File(v.target)).toBe(fx.qcow2RawSha);
  });

  it('stops at once with "authentication failed" when the first token is refused', async () => {
    await volume('auth');
    const { opts, tokens } = base('auth', {
      getToken: async () => {
        tokens.push('x');
        return signUploadToken(proxy.keys.privatePem, { name: 'auth', namespace: 'ns' }, { now: new Date(Date.now() - 3600_000) });
      },
    });
    await expect(transferImage(opts)).rejects.toThrow(/^authentication failed: /);
    expect(tokens).toHaveLength(1);
  });

  it('retries while the upload server is not ready, then refreshes a token that expired meanwhile', async () => {
    let ready = false;
    const v = await startTestUploadServer({ imageSize: fx.virtualSize });
    volumes.push(v);
    resolver.table.set('ns/later', () => (ready ? { kind: 'ready', url: v.url, contentType: 'kubevirt' } : { kind: 'not-ready' }));
    let minted = 0;
    const { opts, lines } = base('later', {
      retries: 4,
      backoffMs: 12_000,
      // The first token is five seconds from expiry (with the proxy's 10 s leeway); later ones are fresh.
      getToken: () => signUploadToken(proxy.keys.privatePem, { name: 'later', namespace: 'ns' }, minted++ === 0 ? { now: new Date(Date.now() - 305_000) } : {}),
      log: (l) => {
        lines.push(l);
        ready = true;
      },
    });
    await transferImage(opts);
    expect(lines[0]).toMatch(/^Upload attempt 1 failed: unexpected return value 503, timed out waiting for the condition/);
    expect(lines).toContain('Upload token was refused, requesting a new one');
    expect(minted).toBe(2);
    expect(await sha256File(v.target)).toBe(fx.qcow2RawSha);
  }, 60_000);

  it('--resume continues an upload that was cut off, byte-identical', async () => {
    const v = await volume('resume');
    const size = (await stat(fx.qcow2)).size;
    const half = Math.floor(size / 2);
    const token = await signUploadToken(proxy.keys.privatePem, { name: 'resume', namespace: 'ns' });
    const child = spawn('curl', ['-sS', '--cacert', certs.caCert, '-H', `Authorization: Bearer ${token}`, '-X', 'POST', '-H', `Content-Length: ${size}`, '-H', 'Transfer-Encoding:', '-T', '-', `${proxy.url}/v1beta1/upload`], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.stdin.on('error', () => undefined);
    createReadStream(fx.qcow2, { start: 0, end: half - 1 }).pipe(child.stdin, { end: false });
    await eventually(() => v.session.offset >= half, 'session offset >= half');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    await eventually(() => v.session.phase === 'interrupted', 'session phase === interrupted');

    const started: number[] = [];
    const { opts, lines } = base('resume', { resume: true, onStart: (_u, _t, offset) => started.push(offset) });
    await transferImage(opts);
    expect(started).toEqual([half]);
    expect(lines).toContain(`Resuming upload at byte ${half} of ${size}`);
    expect(await sha256File(v.target)).toBe(fx.qcow2RawSha);
  });

  it('does not retry answers that cannot change: checksum mismatch (500) and too large (400)', async () => {
    await volume('sum');
    const sum = base('sum', { checksum: `sha256:${'1'.repeat(64)}` });
    await expect(transferImage(sum.opts)).rejects.toThrow(/^unexpected return value 500, Saving stream failed: checksum mismatch/);
    expect(sum.tokens).toHaveLength(1);

    await volume('tiny', 16 * 1024 * 1024);
    const tiny = base('tiny');
    await expect(transferImage(tiny.opts)).rejects.toThrow(
      /^unexpected return value 400, Saving stream failed: effective image size is larger than the reported available storage: /,
    );
    expect(tiny.lines).toEqual([]);
  });

  it('gives up after --retry attempts with virtctl text', async () => {
    resolver.table.set('ns/never', { kind: 'not-ready' });
    const { opts, lines } = base('never', { retries: 2 });
    await expect(transferImage(opts)).rejects.toThrow(/^error uploading image after 2 retries: unexpected return value 503, timed out waiting for the condition/);
    expect(lines).toHaveLength(2);
  });
});

