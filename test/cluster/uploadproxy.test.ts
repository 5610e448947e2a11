import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { silentLogger } from '../../src/api/logger.ts';
import { generateSigningKey, signUploadToken } from '../../src/api/upload-token.ts';
import { issueCertificate, type IssuedCert } from '../../src/cluster/pki/certificate.ts';
import { UploadClientCommonName } from '../../src/cluster/pki/rotation.ts';
import { startClusterUploadProxy, type ClusterUploadProxy } from '../../src/cluster/uploadproxy/server.ts';
import { atomicWrite } from './support/atomic-writer.ts';

/**
 * The cluster-mode upload proxy over real TLS, in front of a stand-in upload server that
 * demands the proxy's client certificate (as the upload server does: CN
 * client.upload-server.cdi.kubevirt.io from the client signer). All three mounted materials
 * rotate the way the controller rotates them, and uploads keep working without a restart.
 */

const hour = 3_600_000;
const now = new Date();
const life = { notBefore: now, notAfter: new Date(now.getTime() + hour) };
const ca = (cn: string) => issueCertificate({ commonName: cn, usage: 'ca', ...life });
const proxySigner = ca('cdi-uploadproxy-signer@1');
const clientSigner = ca('cdi-uploadserver-client-signer@1');
const serverSigner1 = ca('cdi-uploadserver-signer@1');
const serverSigner2 = ca('cdi-uploadserver-signer@2');
const proxyCert = (cn: string) => issueCertificate({ commonName: cn, usage: 'server', hostnames: ['127.0.0.1'], ...life }, proxySigner);
const clientCert = () => issueCertificate({ commonName: UploadClientCommonName, usage: 'client', ...life }, clientSigner);
const uploadServerCert = (signer: IssuedCert) => issueCertificate({ commonName: 'cdi-upload-disk.default.svc', usage: 'server', hostnames: ['127.0.0.1'], ...life }, signer);

describe('cluster upload proxy', () => {
  let dir: string;
  let upstream: Server;
  let proxy: ClusterUploadProxy;
  let privatePem: string;
  let signingPublicPem: string;
  const seenClients: string[] = [];
  let client1: IssuedCert;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdi-uploadproxy-'));
    for (const d of ['serving', 'client', 'ca']) await mkdir(join(dir, d));
    const first = proxyCert('proxy-1');
    client1 = clientCert();
    await atomicWrite(join(dir, 'serving'), { 'tls.crt': first.certPem, 'tls.key': first.keyPem }, 1);
    await atomicWrite(join(dir, 'client'), { 'tls.crt': client1.certPem, 'tls.key': client1.keyPem }, 1);
    await atomicWrite(join(dir, 'ca'), { 'ca-bundle.crt': serverSigner1.certPem }, 1);

    const upstreamCert = uploadServerCert(serverSigner1);
    upstream = createServer({ cert: upstreamCert.certPem, key: upstreamCert.keyPem, ca: clientSigner.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerX509Certificate();
      seenClients.push(peer?.serialNumber ?? '');
      req.resume();
      req.on('end', () => res.end(`received by ${peer?.subject}`));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    const upstreamUrl = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;

    const key = await generateSigningKey();
    privatePem = key.privatePem;
    signingPublicPem = key.publicPem;
    proxy = await startClusterUploadProxy({
      host: '127.0.0.1',
      port: 0,
      servingDir: join(dir, 'serving'),
      clientDir: join(dir, 'client'),
      serverCaDir: join(dir, 'ca'),
      publicKeyPem: key.publicPem,
      resolver: { resolve: async () => ({ kind: 'ready', url: upstreamUrl, contentType: 'kubevirt' }) },
      logger: silentLogger,
      debounceMs: 20,
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await new Promise((resolve) => upstream?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  async function upload(url = proxy.url): Promise<{ status: number; body: string }> {
    const dispatcher = new Agent({ connect: { ca: proxySigner.certPem } });
    try {
      const token = await signUploadToken(privatePem, { name: 'disk', namespace: 'default' });
      const res = await request(`${url}/v1beta1/upload`, { method: 'POST', dispatcher, headers: { authorization: `Bearer ${token}` }, body: 'disk bytes' });
      return { status: res.statusCode, body: await res.body.text() };
    } finally {
      await dispatcher.close();
    }
  }

  const servedSubject = () =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: proxy.port, ca: proxySigner.certPem }, () => {
        const cert: X509Certificate | undefined = socket.getPeerX509Certificate();
        socket.end();
        resolve(cert?.subject ?? '');
      });
      socket.on('error', reject);
    });

  const servedCipher = (ciphers?: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: proxy.port, ca: proxySigner.certPem, ...(ciphers ? { ciphers } : {}) }, () => {
        const name = socket.getCipher().standardName;
        socket.end();
        resolve(name);
      });
      socket.on('error', reject);
    });

  /** Its own order decides, as Go's servers do; a client without AES hardware keeps ChaCha20. */
  const expectCdiCipherChoice = async () => {
    expect(await servedCipher()).toBe('TLS_AES_128_GCM_SHA256');
    expect(await servedCipher('TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256')).toBe('TLS_AES_128_GCM_SHA256');
    expect(await servedCipher('TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256')).toBe('TLS_CHACHA20_POLY1305_SHA256');
    expect(await servedCipher('TLS_AES_256_GCM_SHA384')).toBe('TLS_AES_256_GCM_SHA384');
  };

  it('picks AES-128-GCM at its front door over a client\'s AES-256-GCM preference', async () => {
    await expectCdiCipherChoice();
  });

  it('forwards an upload with its client certificate over mutual TLS', async () => {
    const res = await upload();
    expect(res).toEqual({ status: 200, body: `received by CN=${UploadClientCommonName}` });
    expect(seenClients.at(-1)).toBe(new X509Certificate(client1.certPem).serialNumber);
    expect((await request(`${proxy.url}/healthz`, { dispatcher: new Agent({ connect: { ca: proxySigner.certPem } }) })).statusCode).toBe(200);
  });

  it('serves a rotated serving certificate to new connections', async () => {
    const second = proxyCert('proxy-2');
    await atomicWrite(join(dir, 'serving'), { 'tls.crt': second.certPem, 'tls.key': second.keyPem }, 2);
    await eventually(async () => (await servedSubject()) === 'CN=proxy-2', 'the new serving certificate');
    await expectCdiCipherChoice();
  });

  it('uses a rotated client certificate and a new upload-server signer without a restart', async () => {
    const client2 = clientCert();
    await atomicWrite(join(dir, 'client'), { 'tls.crt': client2.certPem, 'tls.key': client2.keyPem }, 2);
    await atomicWrite(join(dir, 'ca'), { 'ca-bundle.crt': serverSigner2.certPem + serverSigner1.certPem }, 2);
    const serial2 = new X509Certificate(client2.certPem).serialNumber;
    await eventually(async () => (await upload()).status === 200 && seenClients.at(-1) === serial2, 'uploads to use the new client certificate');

    // upload servers created after the signer rotation have certificates from the new signer
    const rotated = uploadServerCert(serverSigner2);
    upstream.setSecureContext({ cert: rotated.certPem, key: rotated.keyPem, ca: clientSigner.certPem });
    expect(await upload()).toEqual({ status: 200, body: `received by CN=${UploadClientCommonName}` });
  });

  describe('started before its client material exists (cdi serve starts it beside the controller)', () => {
    const options = (base: string, logger = silentLogger) => ({
      host: '127.0.0.1',
      port: 0,
      servingDir: join(dir, 'serving'),
      clientDir: join(base, 'client'),
      serverCaDir: join(base, 'ca'),
      publicKeyPem: signingPublicPem,
      resolver: { resolve: async () => ({ kind: 'ready' as const, url: `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`, contentType: 'kubevirt' as const }) },
      logger,
    });

    it('waits for the client certificate and CA bundle, then listens and forwards with them', async () => {
      const base = await mkdtemp(join(dir, 'late-'));
      for (const d of ['client', 'ca']) await mkdir(join(base, d));
      let waiting!: () => void;
      const waitingLogged = new Promise<void>((resolve) => (waiting = resolve));
      const logger = { ...silentLogger, child: () => logger, info: (_o: object, msg?: string) => msg?.startsWith('waiting for the upload client') && waiting() };
      let started = false;
      const starting = startClusterUploadProxy(options(base, logger)).then((p) => ((started = true), p));
      await waitingLogged;
      expect(started).toBe(false);
      const late = clientCert();
      // The certificate first, the bundle later: a partial set is not taken.
      await atomicWrite(join(base, 'client'), { 'tls.crt': late.certPem, 'tls.key': late.keyPem }, 1);
      await atomicWrite(join(base, 'ca'), { 'ca-bundle.crt': serverSigner2.certPem + serverSigner1.certPem }, 1);
      const p = await starting;
      try {
        expect(await upload(p.url)).toEqual({ status: 200, body: `received by CN=${UploadClientCommonName}` });
        expect(seenClients.at(-1)).toBe(new X509Certificate(late.certPem).serialNumber);
      } finally {
        await p.close();
      }
    });

    it('fails at once when a material directory is missing (a mount that is not there)', async () => {
      const base = await mkdtemp(join(dir, 'nomount-'));
      await expect(startClusterUploadProxy(options(base))).rejects.toThrow(/ENOENT/);
    });
  });

  describe('against clients that hold connections', () => {
    const started: ClusterUploadProxy[] = [];
    afterAll(async () => {
      await Promise.all(started.map((p) => p.close()));
    });
    const limitedProxy = async (limits: { headersTimeoutMs: number; maxConnections: number }): Promise<number> => {
      const p = await startClusterUploadProxy({
        host: '127.0.0.1',
        port: 0,
        servingDir: join(dir, 'serving'),
        clientDir: join(dir, 'client'),
        serverCaDir: join(dir, 'ca'),
        publicKeyPem: (await generateSigningKey()).publicPem,
        resolver: { resolve: async () => ({ kind: 'missing' }) },
        logger: silentLogger,
        limits,
      });
      started.push(p);
      return p.port;
    };
    /** A TLS connection and everything the proxy sent on it until it closed it. */
    const open = (port: number): { socket: TLSSocket; closed: Promise<string> } => {
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString()));
      socket.on('error', () => undefined);
      return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve(received))) };
    };

    it('answers 408 and closes a connection whose request head never completes (slow loris)', async () => {
      const port = await limitedProxy({ headersTimeoutMs: 300, maxConnections: 16 });
      const loris = open(port);
      loris.socket.once('secureConnect', () => loris.socket.write('POST /v1beta1/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '));
      expect(await loris.closed).toMatch(/^HTTP\/1\.1 408 /);
      const idle = open(port);
      expect(await idle.closed).toMatch(/^HTTP\/1\.1 408 /);
    });

    it('keeps at most maxConnections open: one more is closed at once', async () => {
      const port = await limitedProxy({ headersTimeoutMs: 60_000, maxConnections: 2 });
      const held = [open(port), open(port)];
      await Promise.all(held.map(({ socket }) => new Promise((resolve) => socket.once('secureConnect', resolve))));
      const extra = open(port);
      let handshaken = false;
      extra.socket.once('secureConnect', () => (handshaken = true));
      expect(await extra.closed).toBe('');
      expect(handshaken).toBe(false);
      for (const { socket } of held) socket.destroy();
    });
  });
});
