/**
 * Shared pieces of the upload tests: openssl certificates (a CA, serving certs, the proxy's client
 * cert with CDI's CN), qemu-made fixtures with their `qemu-img convert` reference, an upload
 * server and an upload proxy on ephemeral ports, and curl as the client.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { silentLogger } from '../../src/api/logger.ts';
import { localSocketUrl, type UploadFailureRecorder } from '../../src/api/upload-target.ts';
import { generateSigningKey } from '../../src/api/upload-token.ts';
import type { ConvertResult } from '../../src/format/index.ts';
import { UploadClientName, buildUploadServer } from '../../src/upload-server/app.ts';
import { volumeEngine } from '../../src/upload-server/engine.ts';
import type { UploadSession } from '../../src/upload-server/session.ts';
import { startUploadProxy } from '../../src/upload-proxy/app.ts';
import type { UploadTarget, UploadTargetResolver } from '../../src/upload-proxy/resolver.ts';
import { makeCerts, type CertFiles } from '../support/certs.ts';
import { cacheDir, qemuImg, qemuIo, sha256File } from '../support/qemu.ts';

const sh = promisify(execFile);
const MiB = 1024 * 1024;

export interface UploadCerts extends CertFiles {
  /** The proxy's client certificate, CN client.upload-server.cdi.kubevirt.io. */
  proxyClientCert: string;
  proxyClientPem: string;
  proxyClientKeyPem: string;
}

let certsPromise: Promise<UploadCerts> | undefined;
export function uploadCerts(): Promise<UploadCerts> {
  certsPromise ??= (async () => {
    const dir = await cacheDir('upload-v1', 'certs');
    const certs = await makeCerts(dir, { caName: 'cdi-ts-upload-test-ca' });
    const cert = path.join(dir, 'proxy-client.crt');
    const key = path.join(dir, 'proxy-client.key');
    if (!existsSync(cert)) {
      const work = await mkdtemp(path.join(dir, 'tmp-'));
      await sh('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'c.key', '-out', 'c.csr', '-subj', `/CN=${UploadClientName}`], { cwd: work });
      await writeFile(path.join(work, 'c.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
      await sh('openssl', ['x509', '-req', '-in', 'c.csr', '-CA', certs.caCert, '-CAkey', certs.caKey, '-CAcreateserial', '-out', 'c.crt', '-days', '825', '-extfile', 'c.ext'], { cwd: work });
      await rename(path.join(work, 'c.key'), key);
      await rename(path.join(work, 'c.crt'), cert);
      await rm(work, { recursive: true, force: true });
    }
    return { ...certs, proxyClientCert: cert, proxyClientPem: await readFile(cert, 'utf8'), proxyClientKeyPem: await readFile(key, 'utf8') };
  })();
  return certsPromise;
}

export interface UploadFixtures {
  /** 48 MiB virtual qcow2 with four data runs; `qcow2Raw` is qemu-img's conversion of it. */
  qcow2: string;
  qcow2Raw: string;
  qcow2RawSha: string;
  virtualSize: number;
  /** A 96 MiB virtual qcow2, too large for a 48 MiB volume. */
  big: string;
}

let fixturesPromise: Promise<UploadFixtures> | undefined;
export function uploadFixtures(): Promise<UploadFixtures> {
  fixturesPromise ??= (async () => {
    const dir = await cacheDir('upload-v1', 'fixtures');
    const at = (name: string): string => path.join(dir, name);
    if (!existsSync(at('ready'))) {
      await qemuImg('create', '-q', '-f', 'qcow2', at('disk.qcow2'), '48M');
      await qemuIo(at('disk.qcow2'), 'qcow2', 'write -P 0x11 0 4M', 'write -P 0x22 10M 8M', 'write -P 0x33 30M 6M', 'write -P 0x44 47M 1M');
      await qemuImg('convert', '-O', 'raw', at('disk.qcow2'), at('disk.raw'));
      await qemuImg('create', '-q', '-f', 'qcow2', at('big.qcow2'), '96M');
      await qemuIo(at('big.qcow2'), 'qcow2', 'write -P 0x55 0 1M', 'write -P 0x66 90M 2M');
      await writeFile(at('ready'), 'ok');
    }
    return {
      qcow2: at('disk.qcow2'),
      qcow2Raw: at('disk.raw'),
      qcow2RawSha: await sha256File(at('disk.raw')),
      virtualSize: 48 * MiB,
      big: at('big.qcow2'),
    };
  })();
  return fixturesPromise;
}

export interface RunningUploadServer {
  /** The https URL, or with `localSocket` the `unix:` URL of its socket. */
  url: string;
  /** The volume: disk.img inside `dir` (or `dir` itself for archive volumes). */
  dir: string;
  target: string;
  session: UploadSession;
  completed: ConvertResult[];
  close(): Promise<void>;
}

export async function startTestUploadServer(opts: {
  contentType?: 'kubevirt' | 'archive';
  imageSize?: number;
  resumeWindowMs?: number;
  idleBodyMs?: number;
  clientName?: string;
  /** Also serve on an owner-only unix socket in this directory, and answer its URL (embedded mode). */
  localSocketDir?: string;
} = {}): Promise<RunningUploadServer> {
  const certs = await uploadCerts();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-upload-vol-'));
  const contentType = opts.contentType ?? 'kubevirt';
  const target = contentType === 'archive' ? dir : path.join(dir, 'disk.img');
  const completed: ConvertResult[] = [];
  const { app, session, serveLocal } = buildUploadServer({
    contentType,
    tls: { key: certs.serverKeyPem, cert: certs.serverPem, clientCa: certs.caPem },
    clientName: opts.clientName ?? UploadClientName,
    resumeWindowMs: opts.resumeWindowMs ?? 60_000,
    ...(opts.idleBodyMs !== undefined ? { idleBodyMs: opts.idleBodyMs } : {}),
    logger: silentLogger,
    runEngine: volumeEngine({
      target,
      imageSize: opts.imageSize,
      filesystemOverhead: 0,
      preallocation: false,
      scratchDir: dir,
      logger: silentLogger,
    }),
    onComplete: (result) => completed.push(result),
  });
  // The node agent's layout: <socket dir>/<pod uid>/upload.sock.
  const socket = opts.localSocketDir ? path.join(opts.localSocketDir, path.basename(dir), 'upload.sock') : undefined;
  if (socket) await mkdir(path.dirname(socket), { mode: 0o700 });
  if (socket) await serveLocal(socket);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return {
    url: socket ? localSocketUrl(socket) : `https://127.0.0.1:${port}`,
    dir,
    target,
    session,
    completed,
    async close() {
      await session.close();
      await app.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A resolver over a fixed table `namespace/name` → answer; unknown names are missing. */
export class TableResolver implements UploadTargetResolver {
  readonly table = new Map<string, UploadTarget | (() => UploadTarget)>();
  async resolve(namespace: string, name: string): Promise<UploadTarget> {
    const entry = this.table.get(`${namespace}/${name}`);
    if (!entry) return { kind: 'missing' };
    return typeof entry === 'function' ? entry() : entry;
  }
}

/** The failures the proxy reported, in order (the Kubernetes recorder's events, as data). */
export class FailureLog implements UploadFailureRecorder {
  readonly seen: Array<{ namespace: string; name: string; message: string }> = [];
  async uploadFailed(namespace: string, name: string, message: string): Promise<void> {
    this.seen.push({ namespace, name, message });
  }
}

export async function startTestProxy(resolver: UploadTargetResolver, opts: { readyTimeoutMs?: number; localSocketDir?: string; failures?: UploadFailureRecorder } = {}) {
  const certs = await uploadCerts();
  const keys = await generateSigningKey();
  const proxy = await startUploadProxy({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: certs.serverPem, key: certs.serverKeyPem },
    publicKeyPem: keys.publicPem,
    clientTls: { cert: certs.proxyClientPem, key: certs.proxyClientKeyPem, ca: certs.caPem },
    resolver,
    ...(opts.localSocketDir ? { localSocketDir: opts.localSocketDir } : {}),
    ...(opts.failures ? { failures: opts.failures } : {}),
    logger: silentLogger,
    readyTimeoutMs: opts.readyTimeoutMs ?? 2_000,
    readyPollMs: 200,
  });
  return { ...proxy, keys };
}

export interface CurlResult {
  status: number;
  body: string;
  headers: string;
}

/** curl with the test CA; returns the HTTP status and body (status 0 when no answer came). */
export async function curl(args: string[], opts: { stdin?: NodeJS.ReadableStream } = {}): Promise<CurlResult> {
  const certs = await uploadCerts();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-curl-'));
  const headerFile = path.join(dir, 'headers');
  const child = spawn('curl', ['-sS', '--cacert', certs.caCert, '-D', headerFile, '-o', path.join(dir, 'body'), '-w', '%{http_code}', ...args], {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  });
  if (opts.stdin && child.stdin) opts.stdin.pipe(child.stdin);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise((resolve) => child.once('close', resolve));
  const body = await readFile(path.join(dir, 'body'), 'utf8').catch(() => '');
  const headers = await readFile(headerFile, 'utf8').catch(() => '');
  await rm(dir, { recursive: true, force: true });
  return { status: Number(out.trim() || '0'), body, headers };
}

export function headerValue(headers: string, name: string): string | undefined {
  const line = headers.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

export { sha256File };
