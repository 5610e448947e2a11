import { createHmac, createPrivateKey } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import tls, { type TLSSocket } from 'node:tls';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { silentLogger } from '../../src/api/logger.ts';
import { generateSigningKey, signUploadToken } from '../../src/api/upload-token.ts';
import { buildUploadProxy } from '../../src/upload-proxy/app.ts';
import { UploadServerClients, UpstreamBufferBytes } from '../../src/upload-proxy/forward.ts';
import {
  FailureLog,
  TableResolver,
  curl,
  headerValue,
  sha256File,
  startTestProxy,
  startTestUploadServer,
  uploadCerts,
  uploadFixtures,
  type RunningUploadServer,
  type UploadCerts,
  type UploadFixtures,
} from './harness.ts';
import { establishedConnections } from '../support/ports.ts';

let certs: UploadCerts;
let fx: UploadFixtures;
beforeAll(async () => {
  [certs, fx] = await Promise.all([uploadCerts(), uploadFixtures()]);
});

const b64 = (v: object): string => Buffer.from(JSON.stringify(v)).toString('base64url');
const pvcResource = { group: '', version: 'v1', resource: 'persistentvolumeclaims' };

describe('upload proxy: tokens and volume states (inject)', () => {
  let keys: { privatePem: string; publicPem: string };
  let otherKeys: { privatePem: string; publicPem: string };
  let volume: RunningUploadServer;
  const resolver = new TableResolver();
  let app: ReturnType<typeof buildUploadProxy>;

  beforeAll(async () => {
    [keys, otherKeys] = await Promise.all([generateSigningKey(), generateSigningKey()]);
    volume = await startTestUploadServer({ imageSize: fx.virtualSize });
    resolver.table.set('ns/disk', { kind: 'ready', url: volume.url, contentType: 'kubevirt' });
    resolver.table.set('ns/plain', { kind: 'not-upload-target' });
    resolver.table.set('ns/done', { kind: 'finished' });
    resolver.table.set('ns/pending', { kind: 'not-ready' });
    resolver.table.set('ns/weird', { kind: 'bad-content-type', value: '<script>alert("x")</script>' });
    let polls = 0;
    resolver.table.set('ns/soon', () => (++polls < 3 ? { kind: 'not-ready' } : { kind: 'ready', url: volume.url, contentType: 'kubevirt' }));
    app = buildUploadProxy({
      publicKeyPem: keys.publicPem,
      clientTls: { cert: certs.proxyClientPem, key: certs.proxyClientKeyPem, ca: certs.caPem },
      resolver,
      logger: silentLogger,
      readyTimeoutMs: 1_000,
      readyPollMs: 100,
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await volume.close();
  });

  const post = (authorization: string | undefined, url = '/v1beta1/upload') =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/octet-stream', ...(authorization === undefined ? {} : { authorization }) },
      payload: Buffer.from('not an image'),
    });

  async function expectUntouched(): Promise<void> {
    expect(volume.session.phase).toBe('idle');
    expect(volume.session.offset).toBe(0);
    await expect(stat(volume.target)).rejects.toThrow();
  }

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (extra: object = {}) => ({
    iss: 'cdi-apiserver',
    iat: now(),
    nbf: now(),
    exp: now() + 300,
    operation: 'Upload',
    name: 'disk',
    namespace: 'ns',
    resource: pvcResource,
    ...extra,
  });
  const ps256 = (body: object, privatePem = keys.privatePem) =>
    new SignJWT(body as Record<string, unknown>).setProtectedHeader({ alg: 'PS256' }).sign(createPrivateKey(privatePem));

  it('answers 400 for a missing or malformed Authorization header', async () => {
    expect((await post(undefined)).statusCode).toBe(400);
    expect((await post('Basic dXNlcjpwYXNz')).statusCode).toBe(400);
    expect((await post('Bearer abc def')).statusCode).toBe(400);
    expect((await post('Bearer a$b')).statusCode).toBe(400);
    expect((await post('Bearer')).statusCode).toBe(400);
    await expectUntouched();
  });

  it('answers 401 for every token that fails verification', async () => {
    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims())}`;
    const cases: Record<string, string> = {
      'bad signature': await signUploadToken(otherKeys.privatePem, { name: 'disk', namespace: 'ns' }),
      expired: await signUploadToken(keys.privatePem, { name: 'disk', namespace: 'ns' }, { now: new Date(Date.now() - 3600_000) }),
      'not yet valid': await signUploadToken(keys.privatePem, { name: 'disk', namespace: 'ns' }, { now: new Date(Date.now() + 3600_000) }),
      'wrong issuer': await ps256(claims({ iss: 'somebody' })),
      'alg none': `${b64({ alg: 'none' })}.${b64(claims())}.`,
      'HS256 keyed with the public key': `${input}.${createHmac('sha256', keys.publicPem).update(input).digest('base64url')}`,
      garbage: 'abc.def.ghi',
    };
    for (const [name, token] of Object.entries(cases)) {
      const res = await post(`Bearer ${token}`);
      expect(res.statusCode, name).toBe(401);
    }
    await expectUntouched();
  });

  it('answers 400 for valid tokens of another operation or resource', async () => {
    for (const extra of [{ operation: 'Clone' }, { resource: { ...pvcResource, resource: 'pods' } }, { name: '' }]) {
      const res = await post(`Bearer ${await ps256(claims(extra))}`);
      expect(res.statusCode, JSON.stringify(extra)).toBe(400);
    }
    await expectUntouched();
  });

  it("answers 503 with CDI's texts for volumes that cannot take an upload", async () => {
    const token = (name: string) => signUploadToken(keys.privatePem, { name, namespace: 'ns' });
    const cases: Array<[string, string]> = [
      ['missing', "rejecting Upload Request for PVC missing that doesn't exist"],
      ['plain', 'PVC plain is not an upload target'],
      ['done', 'rejecting Upload Request for PVC done that already finished uploading'],
      ['pending', 'timed out waiting for the condition'],
      ['weird', 'rejecting upload request for PVC weird - upload content-type &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; is invalid'],
    ];
    for (const [name, text] of cases) {
      const res = await post(`Bearer ${await token(name)}`);
      expect(res.statusCode, name).toBe(503);
      expect(res.body, name).toBe(text);
    }
    await expectUntouched();
  });

  it('waits for an upload server that becomes ready, then forwards (HEAD probe on async)', async () => {
    const token = await signUploadToken(keys.privatePem, { name: 'soon', namespace: 'ns' });
    const res = await app.inject({ method: 'HEAD', url: '/v1beta1/upload-async', headers: { authorization: `Bearer ${token}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['upload-offset']).toBe('0');
    // Not reused: the upload that follows a probe comes on a new connection, which the relay can take.
    expect(res.headers.connection).toBe('close');
  });

  it('serves /healthz, CORS like rs/cors AllowAll, and 404 elsewhere', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).body).toBe('OK');
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/v1beta1/upload',
      headers: { origin: 'https://ui.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('*');
    expect(preflight.headers['access-control-allow-methods']).toBe('POST');
    expect(preflight.headers['access-control-allow-headers']).toBe('authorization,content-type');
    const actual = await app.inject({ method: 'POST', url: '/v1beta1/upload', headers: { origin: 'https://ui.example' } });
    expect(actual.statusCode).toBe(400);
    expect(actual.headers['access-control-allow-origin']).toBe('*');
    expect((await app.inject({ method: 'POST', url: '/v1beta1/upload-archive' })).statusCode).toBe(404);
  });
});

// A cluster's proxy reaches upload servers over mTLS; the embedded one through their owner-only sockets.
describe.each([
  { hop: 'mTLS', local: false },
  { hop: 'an owner-only unix socket', local: true },
])('upload proxy → upload server over $hop, with curl over TLS', ({ local }) => {
  const resolver = new TableResolver();
  const failures = new FailureLog();
  let proxy: Awaited<ReturnType<typeof startTestProxy>>;
  const volumes: RunningUploadServer[] = [];
  let socketDir: string | undefined;

  beforeAll(async () => {
    if (local) socketDir = await mkdtemp(path.join(os.tmpdir(), 'cdi-sockets-'));
    proxy = await startTestProxy(resolver, { failures, ...(socketDir ? { localSocketDir: socketDir } : {}) });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all(volumes.map((v) => v.close()));
    if (socketDir) await rm(socketDir, { recursive: true, force: true });
  });

  async function volume(name: string, contentType: 'kubevirt' | 'archive' = 'kubevirt', imageSize = fx.virtualSize): Promise<{ v: RunningUploadServer; auth: string[] }> {
    const v = await startTestUploadServer({ contentType, imageSize, ...(socketDir ? { localSocketDir: socketDir } : {}) });
    volumes.push(v);
    resolver.table.set(`ns/${name}`, { kind: 'ready', url: v.url, contentType });
    const token = await signUploadToken(proxy.keys.privatePem, { name, namespace: 'ns' });
    return { v, auth: ['-H', `Authorization: Bearer ${token}`] };
  }

  it('uploads octet-stream qcow2 (async path) byte-identical to qemu-img convert; then 409', async () => {
    const { v, auth } = await volume('octet');
    const res = await curl([...auth, '-X', 'POST', '-H', 'Content-Type: application/octet-stream', '--data-binary', `@${fx.qcow2}`, `${proxy.url}/v1beta1/upload-async`]);
    expect(res.status).toBe(200);
    expect(await sha256File(v.target)).toBe(fx.qcow2RawSha);
    const again = await curl([...auth, '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${proxy.url}/v1beta1/upload`]);
    expect(again.status).toBe(409);
  });

  it('answers 502 for an upload server it cannot reach without naming a socket or any path', async () => {
    const gone = socketDir ? `unix:${path.join(socketDir, 'gone.sock')}` : 'https://127.0.0.1:1';
    const outside = `unix:${path.join(os.tmpdir(), 'elsewhere', 'x.sock')}`;
    for (const [name, url] of [['gone', gone], ['outside', outside]] as const) {
      resolver.table.set(`ns/${name}`, { kind: 'ready', url, contentType: 'kubevirt' });
      const token = await signUploadToken(proxy.keys.privatePem, { name, namespace: 'ns' });
      const res = await curl(['-H', `Authorization: Bearer ${token}`, '-X', 'POST', '--data-binary', 'abc', `${proxy.url}/v1beta1/upload`]);
      expect(res.status).toBe(502);
      expect(res.body).toMatch(/^error in upload-proxy: /);
      expect(res.body).not.toMatch(/\/|\.sock/);
    }
  });

  it('streams a chunked body (no Content-Length, curl -T -) through, byte-identical', async () => {
    const { v, auth } = await volume('chunked');
    const { createReadStream } = await import('node:fs');
    const res = await curl([...auth, '-X', 'POST', '-T', '-', `${proxy.url}/v1beta1/upload`], { stdin: createReadStream(fx.qcow2) });
    expect(res.status).toBe(200);
    expect(await sha256File(v.target)).toBe(fx.qcow2RawSha);
  });

  it('uploads a qcow2 as a multipart form (v1alpha1 path)', async () => {
    const { v, auth } = await volume('form');
    const res = await curl([...auth, '-F', `file=@${fx.qcow2}`, `${proxy.url}/v1alpha1/upload-form`]);
    expect(res.status).toBe(200);
    expect(await sha256File(v.target)).toBe(fx.qcow2RawSha);
  });

  it('rewrites archive volumes to /upload-archive', async () => {
    const { v, auth } = await volume('tree', 'archive', 64 * 1024 * 1024);
    const tar = path.join(v.dir, '..', `tree-${process.pid}.tar`);
    const { execFile } = await import('node:child_process');
    await new Promise((resolve, reject) =>
      execFile('tar', ['-cf', tar, '-C', path.dirname(fx.qcow2), path.basename(fx.qcow2)], (err) => (err ? reject(err) : resolve(undefined))),
    );
    const res = await curl([...auth, '-X', 'POST', '--data-binary', `@${tar}`, `${proxy.url}/v1beta1/upload-async`]);
    expect(res.status).toBe(200);
    expect(await sha256File(path.join(v.dir, path.basename(fx.qcow2)))).toBe(await sha256File(fx.qcow2));
  });

  it('passes the too-large answer through (400, CDI text, nothing past capacity)', async () => {
    const { v, auth } = await volume('small');
    const res = await curl([...auth, '-X', 'POST', '--data-binary', `@${fx.big}`, `${proxy.url}/v1beta1/upload`]);
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/^Saving stream failed: effective image size is larger than the reported available storage: /);
    // The failure is reported for the volume's events and Running condition, with the server's text.
    await vi.waitFor(() => expect(failures.seen.filter((f) => f.name === 'small')).toEqual([{ namespace: 'ns', name: 'small', message: res.body }]));
    expect(await stat(v.target).then((s) => s.size, () => 0)).toBeLessThanOrEqual(fx.virtualSize);
    // The proxy drains the rest of the refused body, so curl's connection ends rather than lingers.
    await eventually(async () => (await establishedConnections(Number(new URL(proxy.url).port))) === 0, 'no connection left open to the proxy');
  });

  it('relays a plain Content-Length upload at socket level: byte-identical, answers closing the connection, refusals passed through', async () => {
    // Without `Expect: 100-continue` (curl adds it above 1 MiB) the proxy relays the body itself (docs/adr/0035).
    const { v, auth } = await volume('relayed');
    const res = await curl([...auth, '-H', 'Expect:', '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${proxy.url}/v1beta1/upload-async`]);
    expect(res.status).toBe(200);
    expect(headerValue(res.headers, 'connection')).toBe('close');
    expect(await sha256File(v.target)).toBe(fx.qcow2RawSha);
    const again = await curl([...auth, '-H', 'Expect:', '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${proxy.url}/v1beta1/upload`]);
    expect(again.status).toBe(409);
    expect(headerValue(again.headers, 'connection')).toBe('close');

    const small = await volume('small-relayed');
    const refused = await curl([...small.auth, '-H', 'Expect:', '-X', 'POST', '--data-binary', `@${fx.big}`, `${proxy.url}/v1beta1/upload`]);
    expect(refused.status).toBe(400);
    expect(headerValue(refused.headers, 'connection')).toBe('close');
    expect(refused.body).toMatch(/^Saving stream failed: effective image size is larger than the reported available storage: /);
    await vi.waitFor(() => expect(failures.seen.filter((f) => f.name === 'small-relayed')).toEqual([{ namespace: 'ns', name: 'small-relayed', message: refused.body }]));
    expect(await stat(small.v.target).then((s) => s.size, () => 0)).toBeLessThanOrEqual(fx.virtualSize);
    await eventually(async () => (await establishedConnections(Number(new URL(proxy.url).port))) === 0, 'no connection left open to the proxy');
  });

  it('leaves to the HTTP server what the relay does not take: bad tokens, a volume not ready, a malformed head', async () => {
    const { auth } = await volume('fallback');
    const badToken = await curl(['-H', 'Authorization: Bearer abc.def.ghi', '-H', 'Expect:', '-X', 'POST', '--data-binary', 'x', `${proxy.url}/v1beta1/upload`]);
    expect(badToken.status).toBe(401);
    resolver.table.set('ns/later', { kind: 'not-ready' });
    const later = await signUploadToken(proxy.keys.privatePem, { name: 'later', namespace: 'ns' });
    const notReady = await curl(['-H', `Authorization: Bearer ${later}`, '-H', 'Expect:', '-X', 'POST', '--data-binary', 'x', `${proxy.url}/v1beta1/upload`]);
    expect(notReady.status).toBe(503);
    // A bare LF in the head: Node's parser, not the relay, answers it.
    const socket = tls.connect({ host: '127.0.0.1', port: Number(new URL(proxy.url).port), ca: certs.caPem, servername: 'localhost' });
    await once(socket, 'secureConnect');
    socket.end(`POST /v1beta1/upload HTTP/1.1\r\nHost: x\n${auth[1]}\r\nContent-Length: 1\r\n\r\nx`);
    let answer = '';
    for await (const chunk of socket) answer += String(chunk);
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
  });

  it.runIf(local)('keeps the socket owner-only and forwards to no socket outside the agent directory', async () => {
    const { v } = await volume('mode');
    const socket = v.url.slice('unix:'.length);
    expect((await stat(socket)).mode & 0o777).toBe(0o600);

    const elsewhere = await mkdtemp(path.join(os.tmpdir(), 'cdi-other-'));
    const stray = await startTestUploadServer({ imageSize: fx.virtualSize, localSocketDir: elsewhere });
    try {
      resolver.table.set('ns/stray', { kind: 'ready', url: stray.url, contentType: 'kubevirt' });
      const token = await signUploadToken(proxy.keys.privatePem, { name: 'stray', namespace: 'ns' });
      const res = await curl(['-H', `Authorization: Bearer ${token}`, '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${proxy.url}/v1beta1/upload`]);
      expect(res.status).toBe(502);
      expect(res.body).toContain("is not in the node agent's socket directory");
      expect(stray.session.phase).toBe('idle');
      expect(await stat(stray.target).then(() => true, () => false)).toBe(false);
    } finally {
      await stray.close();
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('a second concurrent upload gets 503; a killed upload is retried, and another one resumed, both byte-identical', async () => {
    const size = (await stat(fx.qcow2)).size;
    const retried = await volume('retried');
    const child = await killHalfWay(retried, size);
    expect((await curl([...retried.auth, '-X', 'POST', '--data-binary', 'x', `${proxy.url}/v1beta1/upload`])).status).toBe(503);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('close', r));
    await eventually(() => retried.v.session.phase === 'interrupted', 'session phase === interrupted');
    const again = await curl([...retried.auth, '-X', 'POST', '--data-binary', `@${fx.qcow2}`, `${proxy.url}/v1beta1/upload`]);
    expect(again.status).toBe(200);
    expect(await sha256File(retried.v.target)).toBe(fx.qcow2RawSha);
    // 503 (busy) is no failure of the upload: nothing is reported.
    expect(failures.seen.filter((f) => f.name === 'retried')).toEqual([]);

    const resumed = await volume('resumed');
    const second = await killHalfWay(resumed, size);
    second.kill('SIGKILL');
    await new Promise((r) => second.once('close', r));
    await eventually(() => resumed.v.session.phase === 'interrupted', 'session phase === interrupted');
    const head = await curl([...resumed.auth, '-I', `${proxy.url}/v1beta1/upload-async`]);
    expect(head.status).toBe(200);
    const offset = Number(headerValue(head.headers, 'upload-offset'));
    expect(offset).toBeGreaterThan(0);
    const rest = await curl([...resumed.auth, '-X', 'POST', '-T', fx.qcow2, '-C', String(offset), `${proxy.url}/v1beta1/upload-async`]);
    expect(rest.status).toBe(200);
    expect(await sha256File(resumed.v.target)).toBe(fx.qcow2RawSha);
    expect(await readFile(resumed.v.target).then((b) => b.byteLength)).toBe(fx.virtualSize);
  });

  /** Streams the first half through curl and the proxy; returns the still-running curl. */
  async function killHalfWay(vol: { v: RunningUploadServer; auth: string[] }, size: number) {
    const half = Math.floor(size / 2);
    const child = spawn('curl', ['-sS', '--cacert', certs.caCert, ...vol.auth, '-X', 'POST', '-H', `Content-Length: ${size}`, '-H', 'Transfer-Encoding:', '-T', '-', `${proxy.url}/v1beta1/upload`], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    child.stdin.on('error', () => undefined);
    createReadStream(fx.qcow2, { start: 0, end: half - 1 }).pipe(child.stdin, { end: false });
    await eventually(() => vol.v.session.offset >= half, 'session offset >= half');
    return child;
  }
});

describe('the proxy\'s connection to an upload server', () => {
  it('over its unix socket buffers the client\'s body as over mTLS', async () => {
    const socketDir = await mkdtemp(path.join(os.tmpdir(), 'cdi-sockets-'));
    const server = await startTestUploadServer({ localSocketDir: socketDir });
    try {
      const clients = new UploadServerClients({ cert: certs.proxyClientPem, key: certs.proxyClientKeyPem, ca: certs.caPem }, socketDir);
      const { socket } = await clients.connect(server.url, new AbortController().signal);
      const buffer = socket.writableHighWaterMark;
      socket.destroy();
      expect(buffer).toBe(UpstreamBufferBytes);
    } finally {
      await server.close();
      await rm(socketDir, { recursive: true, force: true });
    }
  });

  it('verifies the server, presents the client certificate and negotiates AES-128-GCM', async () => {
    const server = await startTestUploadServer();
    try {
      const clients = new UploadServerClients({ cert: certs.proxyClientPem, key: certs.proxyClientKeyPem, ca: certs.caPem });
      const { socket } = await clients.connect(server.url, new AbortController().signal);
      const tlsSocket = socket as TLSSocket;
      const seen = { authorized: tlsSocket.authorized, cipher: tlsSocket.getCipher().standardName, buffer: socket.writableHighWaterMark };
      socket.destroy();
      expect(seen).toEqual({ authorized: true, cipher: 'TLS_AES_128_GCM_SHA256', buffer: UpstreamBufferBytes });
      // a client certificate with another CN is refused by the server (401)
      const stranger = new UploadServerClients({ cert: certs.serverPem, key: certs.serverKeyPem, ca: certs.caPem });
      const other = await stranger.connect(server.url, new AbortController().signal);
      other.socket.write('HEAD /v1beta1/upload-async HTTP/1.1\r\nhost: x\r\n\r\n');
      const [answer] = (await once(other.socket, 'data')) as [Buffer];
      other.socket.destroy();
      expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 401 /);
    } finally {
      await server.close();
    }
  });
});
