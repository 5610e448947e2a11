import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { silentLogger, type Logger } from '../../src/api/logger.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { runUploadProxy } from '../../src/cli/serve/upload-proxy-runner.ts';
import { uploadProxyServingCert } from '../../src/cli/serve/upload-proxy-tls.ts';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';

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

it('restarts the upload proxy on the same port when the controller rotates its client certificate', async () => {
  await core.createNamespacedSecret({ namespace: 'cdi', body: { metadata: { name: 'cdi-uploadserver-client-cert' }, data: b64(clientCert()) } });
  await core.createNamespacedConfigMap({ namespace: 'cdi', body: { metadata: { name: 'cdi-uploadserver-signer-bundle' }, data: { 'ca-bundle.crt': clientCert()['tls.crt'] } } });
  const serving = await uploadProxyServingCert(dataDir, ['localhost', '127.0.0.1']);
  const restarts: string[] = [];
  const logger: Logger = { ...silentLogger, info: (_o, msg) => void (msg && restarts.push(msg)), child: () => logger };
  const proxy = await runUploadProxy({
    host: '127.0.0.1',
    port: 0,
    tls: { cert: serving.cert, key: serving.key },
    core,
    cdiNamespace: 'cdi',
    checkMs: 100,
    publicKeyPem: api.uploadSigningKey.publicPem,
    resolver: { resolve: async () => ({ kind: 'missing' }) },
    logger,
  });
  try {
    expect(await healthz(proxy.url, serving.caPem)).toBe(200);
    await core.replaceNamespacedSecret({ namespace: 'cdi', name: 'cdi-uploadserver-client-cert', body: { metadata: { name: 'cdi-uploadserver-client-cert' }, data: b64(clientCert()) } });
    for (let i = 0; i < 100 && restarts.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect(restarts).toEqual(['upload proxy restarted with the rotated client certificate']);
    expect(await healthz(proxy.url, serving.caPem)).toBe(200);
  } finally {
    await proxy.close();
  }
});
