import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/api/logger.ts';
import { generateSigningKey } from '../../src/api/upload-token.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { eventually } from '../support/eventually.ts';
import { reportedPort } from '../support/ports.ts';
import { atomicWrite } from './support/atomic-writer.ts';

/**
 * src/cluster/token-api/main.ts as a process: kubeconfig from the embedded API server, serving
 * certificate from a kubelet-style Secret directory (reloaded when `..data` is swapped), the
 * front-proxy CA from a file. Its SubjectAccessReviews go to the embedded server's RBAC: the
 * proxied user is refused until a RoleBinding grants CDI's edit ClusterRole, then gets a token.
 */

const repo = join(import.meta.dirname, '..', '..');
const hour = 3_600_000;
const now = new Date();
const life = { notBefore: now, notAfter: new Date(now.getTime() + hour) };
const signer = issueCertificate({ commonName: 'cdi-apiserver-signer@1', usage: 'ca', ...life });
const serving = (cn: string) => issueCertificate({ commonName: cn, usage: 'server', hostnames: ['127.0.0.1'], ...life }, signer);
const frontProxyCa = issueCertificate({ commonName: 'front-proxy-ca', usage: 'ca', ...life });
const aggregator = issueCertificate({ commonName: 'front-proxy-client', usage: 'client', ...life }, frontProxyCa);

const servedSubject = (port: number) =>
  new Promise<string>((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: signer.certPem }, () => {
      const cert: X509Certificate | undefined = socket.getPeerX509Certificate();
      socket.end();
      resolve(cert?.subject ?? '');
    });
    socket.on('error', reject);
  });

describe('token API process', () => {
  let dir: string;
  let api: ApiServerHandle;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cdi-token-api-'));
    api = await startApiServer({ dataDir: join(dir, 'api'), logger: silentLogger });
  });
  afterAll(async () => {
    await api?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves over TLS, authenticates the front proxy, reloads its certificate and stops on SIGTERM', async () => {
    const tlsDir = join(dir, 'tls');
    const keyDir = join(dir, 'signing-key');
    await mkdir(tlsDir);
    await mkdir(keyDir);
    const first = serving('first');
    await atomicWrite(tlsDir, { 'tls.crt': first.certPem, 'tls.key': first.keyPem }, 1);
    await writeFile(join(keyDir, 'id_rsa'), (await generateSigningKey()).privatePem);
    await writeFile(join(dir, 'front-proxy-ca.crt'), frontProxyCa.certPem);
    const child = spawn(process.execPath, [
      join(repo, 'src/cluster/token-api/main.ts'),
      '--kubeconfig', api.kubeconfigPath,
      '--address', '127.0.0.1',
      '--port', '0',
      '--tls-dir', tlsDir,
      '--signing-key-dir', keyDir,
      '--requestheader-client-ca-file', join(dir, 'front-proxy-ca.crt'),
    ]);
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const port = await reportedPort(child.stdout, 'token API listening').catch((err: Error) => {
        throw new Error(`${err.message}:\n${output}`);
      });
      const healthcheck = () => new Promise<number | null>((resolve) => spawn(process.execPath, [join(repo, 'src/cluster/healthcheck.ts'), `https://127.0.0.1:${port}/healthz`]).on('exit', resolve));
      expect(await healthcheck(), output).toBe(0);

      const post = async (cert?: { certPem: string; keyPem: string }) => {
        const dispatcher = new Agent({ connect: { ca: signer.certPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) } });
        try {
          const res = await request(`https://127.0.0.1:${port}/apis/upload.cdi.kubevirt.io/v1beta1/namespaces/default/uploadtokenrequests`, {
            method: 'POST',
            dispatcher,
            headers: { 'content-type': 'application/json', 'x-remote-user': 'alice' },
            body: JSON.stringify({ spec: { pvcName: 'disk' } }),
          });
          return { status: res.statusCode, body: (await res.body.json()) as { message?: string; status?: { token?: string }; details?: { causes?: Array<{ reason: string }> } } };
        } finally {
          await dispatcher.close();
        }
      };
      const anonymous = await post();
      expect(anonymous.status).toBe(401);
      const proxied = await post(aggregator);
      expect(proxied.status, 'authenticated, then refused by the SubjectAccessReview').toBe(401);
      expect(proxied.body.details?.causes?.[0]?.reason).toBe('CDI_ERR_TOKEN_API_DENIED');
      const binding = {
        metadata: { name: 'alice-cdi-edit' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cdi.kubevirt.io:edit' },
        subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'alice' }],
      };
      const apiAgent = new Agent({ connect: { ca: api.caPem } });
      const granted = await request(`${api.url}/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings`, {
        method: 'POST',
        dispatcher: apiAgent,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
        body: JSON.stringify(binding),
      });
      await granted.body.dump();
      await apiAgent.close();
      expect(granted.statusCode).toBe(201);
      const allowed = await post(aggregator);
      expect(allowed.status, JSON.stringify(allowed.body)).toBe(200);
      expect(allowed.body.status?.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);

      expect(await servedSubject(port)).toBe('CN=first');
      const second = serving('second');
      await atomicWrite(tlsDir, { 'tls.crt': second.certPem, 'tls.key': second.keyPem }, 2);
      await eventually(async () => (await servedSubject(port)) === 'CN=second', 'the reloaded serving certificate');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
