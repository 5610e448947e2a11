import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import fs from 'node:fs';
import https from 'node:https';
import tls from 'node:tls';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/api/logger.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { relayNodeFlags } from '../../src/api/runtime.ts';
import { runUploadProxy } from '../../src/cli/serve/upload-proxy-runner.ts';
import { uploadProxyServingCert } from '../../src/cli/serve/upload-proxy-tls.ts';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { eventually } from '../support/eventually.ts';

let dataDir: string;
let api: ApiServerHandle;
let core: CoreV1Api;

beforeAll(async () => {
  dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cdi-proxy-rotation-'));
  api = await startApiServer({ dataDir, logger: silentLogger });
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: 'cdi' } } });
});
afterAll(async () => {
  await api.close();
  await fs.promises.rm(dataDir, { recursive: true, force: true });
});

function clientCert(): { 'tls.crt': string; 'tls.key': string } {
  const now = new Date();
  const signer = issueCertificate({ commonName: 'signer', usage: 'ca', notBefore: now, notAfter: new Date(now.getTime() + 3600_000) });
  const leaf = issueCertificate({ commonName: 'client.upload-server.cdi.kubevirt.io', usage: 'client', notBefore: now, notAfter: new Date(now.getTime() + 3600_000) }, signer);
  return { 'tls.crt': leaf.certPem, 'tls.key': leaf.keyPem };
}

const b64 = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));

function healthz(url: string, ca: string): Promise<number | undefined> {
  return new Promise((resolve) => {
    https.get(`${url}/healthz`, { ca }, (res) => {
      res.resume();
      resolve(res.statusCode);
    }).on('error', () => resolve(undefined));
  });
}

it('runs the upload proxy as its own process, which reloads a rotated client certificate and comes back after a crash', async () => {
  await core.createNamespacedSecret({ namespace: 'cdi', body: { metadata: { name: 'cdi-uploadserver-client-cert' }, data: b64(clientCert()) } });
  await core.createNamespacedConfigMap({ namespace: 'cdi', body: { metadata: { name: 'cdi-uploadserver-signer-bundle' }, data: { 'ca-bundle.crt': clientCert()['tls.crt'] } } });
  const serving = await uploadProxyServingCert(dataDir, ['localhost', '127.0.0.1']);
  const lines: Array<{ msg: string; fields: object }> = [];
  const logger: Logger = {
    ...silentLogger,
    info: (fields, msg) => void (msg && lines.push({ msg, fields })),
    error: (fields, msg) => void (msg && lines.push({ msg, fields })),
    child: () => logger,
  };
  const seen = (msg: string, count = 1) => eventually(() => lines.filter((l) => l.msg === msg).length >= count, `${count} log line(s) "${msg}"`);
  const materialDir = path.join(dataDir, 'uploadproxy');
  const proxy = await runUploadProxy({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: serving.cert, key: serving.key },
    kubeconfigPath: api.kubeconfigPath,
    core,
    cdiNamespace: 'cdi',
    checkMs: 100,
    publicKeyPem: api.uploadSigningKey.publicPem,
    materialDir,
    logger,
  });
  try {
    expect(await healthz(proxy.url, serving.caPem)).toBe(200);
    // the certificates it is given are the owner's alone
    expect(fs.statSync(materialDir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(materialDir, 'client', 'tls.key')).mode & 0o777).toBe(0o600);
    const started = lines.find((l) => l.msg === 'upload proxy process started')!.fields as { pid: number };
    // it runs under the data-path flags, not serve's
    expect(fs.readFileSync(`/proc/${started.pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining([...relayNodeFlags]));

    const rotated = clientCert();
    await core.replaceNamespacedSecret({ namespace: 'cdi', name: 'cdi-uploadserver-client-cert', body: { metadata: { name: 'cdi-uploadserver-client-cert' }, data: b64(rotated) } });
    await seen('upload proxy client certificate rotated; the proxy process reloads it');
    expect(fs.readFileSync(path.join(materialDir, 'client', 'tls.crt'), 'utf8')).toBe(rotated['tls.crt']);
    // the process's own watcher took the new material, on the same process and port
    await seen('upload client certificate or server CA changed; new uploads use the new material');
    expect(await healthz(proxy.url, serving.caPem)).toBe(200);

    process.kill(started.pid, 'SIGKILL');
    await seen('upload proxy process exited; starting it again');
    await seen('upload proxy process started', 2);
    expect(await healthz(proxy.url, serving.caPem)).toBe(200);
  } finally {
    await proxy.close();
  }
  const last = lines.filter((l) => l.msg === 'upload proxy process started').at(-1)!.fields as { pid: number };
  expect(fs.existsSync(`/proc/${last.pid}/cmdline`) && !fs.readFileSync(`/proc/${last.pid}/stat`, 'utf8').includes(') Z ')).toBe(false);
});

/**
 * uploadproxy/main.ts as cdi serve runs it (--exit-with-stdin, port 0), on the material the first
 * test wrote; resolves once it logs that it listens.
 */
async function startProxyProcess(logLevel: string): Promise<ChildProcessWithoutNullStreams> {
  const materialDir = path.join(dataDir, 'uploadproxy');
  const entry = path.join(import.meta.dirname, '..', '..', 'uploadproxy', 'main.ts');
  const child = spawn(
    process.execPath,
    [
      entry,
      ...['--address', '127.0.0.1', '--port', '0', '--kubeconfig', api.kubeconfigPath],
      ...['--tls-dir', path.join(materialDir, 'serving'), '--client-cert-dir', path.join(materialDir, 'client'), '--server-ca-dir', path.join(materialDir, 'server-ca')],
      '--exit-with-stdin',
    ],
    { env: { ...process.env, APISERVER_PUBLIC_KEY: api.uploadSigningKey.publicPem, LOG_LEVEL: logLevel }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const listening = new Promise<void>((resolve, reject) => {
    const onData = () => out.includes('upload proxy listening') && resolve();
    child.stdout.on('data', onData);
    child.once('exit', (code) => reject(new Error(`upload proxy exited (${code}) before it listened:\n${out}`)));
  });
  try {
    await listening;
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

it('the proxy process started with --exit-with-stdin ends when its parent goes (stdin closes)', async () => {
  const child = await startProxyProcess('info');
  try {
    const exited = once(child, 'exit');
    child.stdin.end();
    expect((await exited)[0]).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});

it('the proxy process ends with its parent even when it cannot log (its stdout a closed pipe)', async () => {
  const child = await startProxyProcess('debug');
  try {
    const exited = once(child, 'exit');
    // The parent is gone as after a kill -9: nobody reads its output any more, and stdin closes.
    child.stdout.destroy();
    child.stderr.destroy();
    child.stdin.end();
    expect((await exited)[0]).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
});

it('reissues an expired upload proxy certificate at start, and renews the served one 80% into its life without a restart', async () => {
  const pki = path.join(dataDir, 'pki');
  const caPem = fs.readFileSync(path.join(pki, 'ca.crt'), 'utf8');
  const ca = { certPem: caPem, keyPem: fs.readFileSync(path.join(pki, 'ca.key'), 'utf8') };
  const now = Date.now();
  const issue = (notBefore: number, notAfter: number) =>
    issueCertificate({ commonName: 'cdi-uploadproxy', usage: 'server', hostnames: ['localhost', '127.0.0.1'], notBefore: new Date(notBefore), notAfter: new Date(notAfter) }, ca);
  const expired = issue(now - 7200_000, now - 3600_000);
  fs.writeFileSync(path.join(pki, 'uploadproxy.crt'), expired.certPem);
  fs.writeFileSync(path.join(pki, 'uploadproxy.key'), expired.keyPem);
  const fresh = await uploadProxyServingCert(dataDir, ['localhost', '127.0.0.1']);
  expect(new Date(new X509Certificate(fresh.cert).validTo).getTime()).toBeGreaterThan(now + 300 * 24 * 3600_000);

  // 8 of its 10 seconds are gone: due for renewal as the proxy starts
  const ageing = issue(now - 8_000, now + 2_000);
  let renewals = 0;
  const proxy = await runUploadProxy({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: ageing.certPem, key: ageing.keyPem },
    kubeconfigPath: api.kubeconfigPath,
    core,
    cdiNamespace: 'cdi',
    publicKeyPem: api.uploadSigningKey.publicPem,
    materialDir: path.join(dataDir, 'uploadproxy-renewal'),
    renewServing: async () => {
      renewals++;
      return fresh;
    },
    logger: silentLogger,
  });
  try {
    const served = () =>
      new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: Number(new URL(proxy.url).port), rejectUnauthorized: false }, () => {
          resolve(socket.getPeerX509Certificate()?.serialNumber ?? '');
          socket.destroy();
        });
        socket.once('error', reject);
      });
    const freshSerial = new X509Certificate(fresh.cert).serialNumber;
    await eventually(async () => (await served()) === freshSerial, 'the renewed serving certificate', 20_000);
    expect(renewals).toBe(1);
  } finally {
    await proxy.close();
  }
});
