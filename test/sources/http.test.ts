import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCdiError } from '../../src/api/errors.ts';
import { convert } from '../../src/format/index.ts';
import { openHttpSource } from '../../src/sources/http/http-source.ts';
import type { HttpOptions } from '../../src/sources/http/options.ts';
import type { ImportSource } from '../../src/sources/source.ts';
import { makeCerts, type CertFiles } from '../support/certs.ts';
import { startNginx, type Nginx } from '../support/nginx.ts';
import { startBadServer, type BadServer } from './bad-server.ts';
import { digestOf, sourceFixtures, type SourceFixtures } from './fixtures.ts';
import { importConfig, importInProcess, targetDir } from './run-import.ts';
import { sha256File } from '../support/qemu.ts';

let fx: SourceFixtures;
let nginx: Nginx;
let bad: BadServer;
let certs: CertFiles;
let caDir: string;

const sha = async (file: string): Promise<string> => createHash('sha256').update(await readFile(file)).digest('hex');

/** Everything the source yields, read the way the engine would (sequential stream). */
async function drain(source: ImportSource): Promise<{ digest: string; size: number; kind: string }> {
  try {
    const input = source.input;
    const stream = input.kind === 'random' ? input.input.stream(0) : input.stream;
    return { ...(await digestOf(stream)), kind: input.kind };
  } finally {
    await source.close();
  }
}

async function fails(endpoint: string, options: HttpOptions = {}): Promise<Error> {
  try {
    await drain(await openHttpSource(endpoint, options));
  } catch (err) {
    return err as Error;
  }
  throw new Error(`${endpoint} did not fail`);
}

beforeAll(async () => {
  fx = await sourceFixtures();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-http-test-'));
  certs = await makeCerts(path.join(dir, 'pki'));
  caDir = path.join(dir, 'pki-ca');
  const { mkdir, copyFile } = await import('node:fs/promises');
  await mkdir(caDir);
  await copyFile(certs.caCert, path.join(caDir, 'odd name.pem'));
  nginx = await startNginx({ root: fx.dir, certs });
  bad = await startBadServer(fx.dir, { drops: 3, dropAfter: 3 << 20 });
});

afterAll(async () => {
  await nginx?.stop();
  await bad?.stop();
});

describe('http source against nginx (CDI listener set)', () => {
  it('offers a range-capable server as random access and streams every byte', async () => {
    const source = await openHttpSource(`${nginx.plain}/${fx.files.qcow2}`, {});
    expect(source.input.kind).toBe('random');
    expect(source.meter.total).toBeGreaterThan(0);
    const got = await drain(source);
    expect(got.digest).toBe(await sha(path.join(fx.dir, fx.files.qcow2)));
  });

  it('reads random ranges exactly', async () => {
    const source = await openHttpSource(`${nginx.plain}/${fx.files.raw}`, {});
    try {
      if (source.input.kind !== 'random') throw new Error('expected random access');
      const file = await readFile(path.join(fx.dir, fx.files.raw));
      for (const [offset, length] of [[0, 512], [1 << 20, 70000], [file.length - 10, 10]] as const) {
        expect(Buffer.from(await source.input.input.read(offset, length))).toEqual(file.subarray(offset, offset + length));
      }
      await expect(source.input.input.read(file.length - 1, 2)).rejects.toMatchObject({ code: 'CDI_ERR_TRUNCATED' });
    } finally {
      await source.close();
    }
  });

  it('uses several connections for long sequential reads, in order', async () => {
    const source = await openHttpSource(`${nginx.plain}/${fx.files.large}`, { parallelThreshold: 1 << 20, chunkSize: 1 << 20, connections: 4 });
    expect((await drain(source)).digest).toBe(await sha(path.join(fx.dir, fx.files.large)));
  });

  it('decodes a gzip image read over several connections into reused chunks, byte for byte', async () => {
    const source = await openHttpSource(`${nginx.plain}/${fx.files.rawGz}`, { parallelThreshold: 1 << 20, chunkSize: 256 << 10, connections: 3 });
    const { target } = await targetDir();
    try {
      await convert(source.input, { kind: 'file', path: target }, { contentType: 'kubevirt' });
    } finally {
      await source.close();
    }
    expect(await sha256File(target)).toBe(fx.reference.digest);
  });

  it('sends basic auth, and fails without it', async () => {
    const ok = await openHttpSource(`${nginx.auth}/${fx.files.raw}`, { basicAuth: { user: 'tester', password: 's3cret' } });
    expect((await drain(ok)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
    const err = await fails(`${nginx.auth}/${fx.files.raw}`);
    expect(err.message).toBe('expected status code 200, got 401. Status: 401 Unauthorized');
  });

  it('streams through the rate-limited listener', async () => {
    const ok = await openHttpSource(`${nginx.limited}/${fx.files.rawGz}`, {});
    expect((await drain(ok)).digest).toBe(await sha(path.join(fx.dir, fx.files.rawGz)));
  });

  it('trusts a CA from the cert directory (any file name), with and without auth', async () => {
    const tls = await openHttpSource(`${nginx.tls}/${fx.files.qcow2}`, { certDir: caDir });
    expect((await drain(tls)).digest).toBe(await sha(path.join(fx.dir, fx.files.qcow2)));
    const tlsAuth = await openHttpSource(`${nginx.tlsAuth}/${fx.files.qcow2}`, { certDir: caDir, basicAuth: { user: 'tester', password: 's3cret' } });
    expect((await drain(tlsAuth)).kind).toBe('random');
  });

  it('refuses an unknown CA unless insecure', async () => {
    const err = await fails(`${nginx.tls}/${fx.files.raw}`);
    expect(isCdiError(err, 'CDI_ERR_HTTP_REQUEST')).toBe(true);
    expect(err.message).toMatch(/certificate/i);
    const insecure = await openHttpSource(`${nginx.tls}/${fx.files.raw}`, { insecure: true });
    expect((await drain(insecure)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
  });

  it("reports CDI's 404 text", async () => {
    const err = await fails(`${nginx.plain}/missing.img`);
    expect(err.message).toBe('expected status code 200, got 404. Status: 404 Not Found');
  });
});

describe('http source against a misbehaving server', () => {
  it('works when HEAD is forbidden', async () => {
    const s = await openHttpSource(`${bad.url}/head-forbidden/${fx.files.raw}`, {});
    expect((await drain(s)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
  });

  it('streams from a server without Accept-Ranges', async () => {
    const s = await openHttpSource(`${bad.url}/no-ranges/${fx.files.qcow2}`, {});
    expect(s.input.kind).toBe('stream');
    expect((await drain(s)).digest).toBe(await sha(path.join(fx.dir, fx.files.qcow2)));
  });

  it('resumes with Range + If-Range when the connection drops mid-body, several times', async () => {
    const before = bad.requests.length;
    const s = await openHttpSource(`${bad.url}/flaky/${fx.files.large}`, {});
    expect((await drain(s)).digest).toBe(await sha(path.join(fx.dir, fx.files.large)));
    // The probe and the first read are cut too; the later requests start where the last body stopped.
    const resumed = bad.requests.slice(before).filter((r) => r.route === 'flaky' && r.range && !r.range.startsWith('bytes=0-'));
    expect(resumed.length).toBeGreaterThanOrEqual(2);
  });

  it('imports a qcow2 random-access (one sequential GET for the data) through dropped connections', async () => {
    const flaky = await startBadServer(fx.dir, { drops: 3, dropAfter: 5 << 20 });
    try {
      const { target } = await targetDir();
      const r = await importInProcess(importConfig({ source: 'http', endpoint: `${flaky.url}/flaky/${fx.files.large}`, target: { kind: 'file', path: target } }));
      expect(r.failure).toBeUndefined();
      expect(await sha256File(target)).toBe(fx.large.digest);
      const data = flaky.requests.filter((q) => q.range && !q.range.startsWith('bytes=0-'));
      expect(data.length).toBeGreaterThanOrEqual(2);
      expect(flaky.requests.length).toBeLessThan(40);
    } finally {
      await flaky.stop();
    }
  });

  it('fails when the resource changes while resuming', async () => {
    const err = await fails(`${bad.url}/changed/${fx.files.large}`);
    expect(isCdiError(err, 'CDI_ERR_HTTP_CHANGED')).toBe(true);
  });

  it('fails on a dropped body without ranges, and on a wrong Content-Length', async () => {
    expect(isCdiError(await fails(`${bad.url}/flaky-no-ranges/${fx.files.large}`), 'CDI_ERR_HTTP_REQUEST')).toBe(true);
    expect(isCdiError(await fails(`${bad.url}/wrong-length/${fx.files.raw}`), 'CDI_ERR_HTTP_REQUEST')).toBe(true);
  });

  it('reports 404, 500 and redirect loops with CDI texts', async () => {
    expect((await fails(`${bad.url}/404`)).message).toBe('expected status code 200, got 404. Status: 404 Not Found');
    expect((await fails(`${bad.url}/500`)).message).toBe('expected status code 200, got 500. Status: 500 Internal Server Error');
    expect((await fails(`${bad.url}/loop`)).message).toBe('stopped after 10 redirects');
  });

  it('follows redirects and re-applies basic auth on them', async () => {
    const s = await openHttpSource(`${bad.url}/redirect/${fx.files.raw}`, {});
    expect((await drain(s)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
    const a = await openHttpSource(`${bad.url}/auth-redirect/${fx.files.raw}`, { basicAuth: { user: 'tester', password: 's3cret' } });
    expect((await drain(a)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
  });

  it('sends extra headers on every request', async () => {
    const { default: http } = await import('node:http');
    const seen: string[] = [];
    const server = http.createServer((req, res) => { seen.push(String(req.headers['x-token'])); res.end('data'); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    const s = await openHttpSource(`http://127.0.0.1:${port}/x`, { extraHeaders: [['X-Token', 'abc']] });
    expect((await drain(s)).size).toBe(4);
    server.close();
    expect(seen).toEqual(['abc']);
  });

  it('survives a slow trickle, and the idle watchdog cancels a stalled body', async () => {
    const s = await openHttpSource(`${bad.url}/slow/${fx.files.rawGz}`, { idleTimeoutMs: 2000 });
    expect((await drain(s)).digest).toBe(await sha(path.join(fx.dir, fx.files.rawGz)));
    const err = await fails(`${bad.url}/stall/${fx.files.raw}`, { idleTimeoutMs: 1000 });
    expect(isCdiError(err, 'CDI_ERR_HTTP_IDLE')).toBe(true);
  });
});

describe('http source through a proxy (http_proxy / no_proxy)', () => {
  it('tunnels through the proxy (plain, or TLS with its own CA), and bypasses it for no_proxy hosts', async () => {
    const { default: http } = await import('node:http');
    const net = await import('node:net');
    const seen: string[] = [];
    const tunnels = new Set<import('node:net').Socket>();
    const forward = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
      // Absolute-form forwarding for clients that do not tunnel plain HTTP.
      seen.push(`GET ${req.url}`);
      const upstream = http.request(req.url!, { method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    };
    const proxy = http.createServer(forward);
    const onConnect = (req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void => {
      seen.push(`CONNECT ${req.url}`);
      const [host, port] = (req.url ?? '').split(':');
      const upstream = net.connect(Number(port), host, () => {
        tunnels.add(upstream);
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
        upstream.write(head);
        upstream.pipe(socket);
        socket.pipe(upstream);
      });
      upstream.on('error', () => socket.destroy());
      socket.on('error', () => upstream.destroy());
    };
    proxy.on('connect', onConnect);
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    // A proxy that speaks TLS itself, with a certificate from our CA (IMPORTER_PROXY_CERT_DIR).
    const { default: https } = await import('node:https');
    const tlsProxy = https.createServer({ cert: certs.serverPem, key: certs.serverKeyPem }, forward);
    tlsProxy.on('connect', onConnect);
    await new Promise<void>((r) => tlsProxy.listen(0, '127.0.0.1', r));
    const tlsProxyUrl = `https://127.0.0.1:${(tlsProxy.address() as { port: number }).port}`;
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    try {
      const via = await openHttpSource(`${nginx.plain}/${fx.files.raw}`, { proxy: { httpProxy: proxyUrl } });
      expect((await drain(via)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
      expect(seen.length).toBeGreaterThan(0);
      seen.length = 0;
      const direct = await openHttpSource(`${nginx.plain}/${fx.files.raw}`, { proxy: { httpProxy: proxyUrl, noProxy: '127.0.0.1' } });
      expect((await drain(direct)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
      expect(seen).toEqual([]);
      const viaTls = await openHttpSource(`${nginx.plain}/${fx.files.raw}`, { proxy: { httpProxy: tlsProxyUrl }, proxyCertDir: caDir });
      expect((await drain(viaTls)).digest).toBe(await sha(path.join(fx.dir, fx.files.raw)));
      expect(seen.length).toBeGreaterThan(0);
      const untrusted = await fails(`${nginx.plain}/${fx.files.raw}`, { proxy: { httpProxy: tlsProxyUrl } });
      expect(untrusted.message).toMatch(/certificate/);
    } finally {
      tlsProxy.closeAllConnections();
      tlsProxy.close();
      for (const t of tunnels) t.destroy();
      proxy.closeAllConnections();
      proxy.close();
    }
  });
});
