import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/api/logger.ts';
import { generateSigningKey } from '../../src/api/upload-token.ts';
import { loadOrCreateServiceAccountKeys, signServiceAccountToken } from '../../src/apiserver/auth/serviceaccount-tokens.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { renderKubeconfig, writeKubeconfig } from '../../src/apiserver/kubeconfig.ts';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { curl, type CurlTarget } from '../apiserver/curl.ts';
import { kubectlPath, kubectlWithInput } from '../support/kubectl.ts';
import { atomicWrite } from './support/atomic-writer.ts';

/**
 * Cluster mode's cdi-apiserver (src/cluster/token-api/main.ts) as a process, pointed at the
 * embedded API server of `cdi serve` and registered there as CDI's webhooks by URL with its CA:
 * its SubjectAccessReviews and lookups are real, and kubectl as a namespace-limited
 * ServiceAccount is refused an invalid DataVolume and an unauthorized clone by it, then allowed
 * the clone once granted datavolumes/source.
 */
const repo = join(import.meta.dirname, '..', '..');
const hour = 3_600_000;
const now = new Date();
const life = { notBefore: now, notAfter: new Date(now.getTime() + hour) };
const signer = issueCertificate({ commonName: 'cdi-apiserver-signer@1', usage: 'ca', ...life });
const serving = issueCertificate({ commonName: 'cdi-api', usage: 'server', hostnames: ['127.0.0.1'], ...life }, signer);
const SA = 'system:serviceaccount:team:builder';
const json = (o: unknown) => JSON.stringify(o);

const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });

const dataVolumeYaml = (name: string, spec: string) => `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ${name}
  namespace: team
spec:
${spec}
  storage:
    resources:
      requests:
        storage: 1Gi
`;
const cloneSpec = '  source:\n    pvc:\n      namespace: golden\n      name: golden-disk';

describe('cdi-apiserver admission webhooks registered with cdi serve', () => {
  let dir: string;
  let api: ApiServerHandle;
  let admin: CurlTarget;
  let child: ChildProcess;
  let output = '';
  let webhookUrl: string;
  let saKubeconfig: string;
  let exited: Promise<number | null>;

  const curlWebhook = (path: string, body: string, contentType = 'application/json') =>
    new Promise<{ code: number; body: string }>((resolve, reject) => {
      const p = spawn('curl', ['-s', '--cacert', join(dir, 'ca.crt'), '-X', 'POST', '-H', `Content-Type: ${contentType}`, '--data-binary', '@-', '-w', '\n%{http_code}', `${webhookUrl}${path}`]);
      let text = '';
      p.stdout.on('data', (d: Buffer) => (text += d));
      p.on('error', reject);
      p.on('close', () => {
        const cut = text.lastIndexOf('\n');
        resolve({ code: Number(text.slice(cut + 1)), body: text.slice(0, cut) });
      });
      p.stdin.end(body);
    });
  const exists = async (name: string) => (await curl(admin, 'GET', `/apis/cdi.kubevirt.io/v1beta1/namespaces/team/datavolumes/${name}`)).code === 200;

  beforeAll(async () => {
    await kubectlPath();
    dir = await mkdtemp(join(tmpdir(), 'cdi-admission-'));
    api = await startApiServer({ dataDir: join(dir, 'api'), logger: silentLogger });
    admin = { url: api.url, token: api.token };
    const tlsDir = join(dir, 'tls');
    const keyDir = join(dir, 'signing-key');
    await mkdir(tlsDir);
    await mkdir(keyDir);
    await atomicWrite(tlsDir, { 'tls.crt': serving.certPem, 'tls.key': serving.keyPem }, 1);
    await writeFile(join(keyDir, 'id_rsa'), (await generateSigningKey()).privatePem);
    await writeFile(join(dir, 'ca.crt'), signer.certPem);
    // No aggregator here: the front-proxy CA only has to exist for the upload token half.
    await writeFile(join(dir, 'front-proxy-ca.crt'), signer.certPem);
    const port = await freePort();
    webhookUrl = `https://127.0.0.1:${port}`;
    child = spawn(process.execPath, [
      join(repo, 'src/cluster/token-api/main.ts'),
      '--kubeconfig', api.kubeconfigPath,
      '--address', '127.0.0.1',
      '--port', String(port),
      '--tls-dir', tlsDir,
      '--signing-key-dir', keyDir,
      '--requestheader-client-ca-file', join(dir, 'front-proxy-ca.crt'),
    ]);
    child.stdout!.on('data', (d: Buffer) => (output += d));
    child.stderr!.on('data', (d: Buffer) => (output += d));
    exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
    await vi.waitFor(async () => {
      const r = await new Promise<number>((resolve) => spawn('curl', ['-s', '-o', '/dev/null', '--cacert', join(dir, 'ca.crt'), `${webhookUrl}/healthz`]).on('close', (c) => resolve(c ?? 1)));
      expect(r, output).toBe(0);
    }, { timeout: 15_000, interval: 100 });

    for (const ns of ['team', 'golden']) expect((await curl(admin, 'POST', '/api/v1/namespaces', json({ metadata: { name: ns } }))).code).toBe(201);
    expect((await curl(admin, 'POST', '/api/v1/namespaces/team/serviceaccounts', json({ metadata: { name: 'builder' } }))).code).toBe(201);
    const binding = { metadata: { name: 'builder-edit' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team' }] };
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings', json(binding))).code).toBe(201);
    const pvc = { metadata: { name: 'golden-disk' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
    expect((await curl(admin, 'POST', '/api/v1/namespaces/golden/persistentvolumeclaims', json(pvc))).code).toBe(201);
    const token = ((await curl(admin, 'POST', '/api/v1/namespaces/team/serviceaccounts/builder/token', json({ spec: {} }))).json().status as { token: string }).token;
    saKubeconfig = join(dir, 'sa', 'kubeconfig');
    await mkdir(join(dir, 'sa'));
    await writeKubeconfig(saKubeconfig, renderKubeconfig(api.url, api.caPem, token));

    const caBundle = Buffer.from(signer.certPem).toString('base64');
    const hook = (name: string, path: string, operations: string[], group: string, resource: string) => ({
      name,
      clientConfig: { url: `${webhookUrl}${path}`, caBundle },
      rules: [{ operations, apiGroups: [group], apiVersions: ['*'], resources: [resource] }],
      failurePolicy: 'Fail',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
    });
    const validating = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'cdi-api-datavolume-validate' }, webhooks: [hook('datavolume-validate.cdi.kubevirt.io', '/datavolume-validate', ['CREATE', 'UPDATE'], 'cdi.kubevirt.io', 'datavolumes')] };
    const mutating = { apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: 'cdi-api-datavolume-mutate' }, webhooks: [hook('datavolume-mutate.cdi.kubevirt.io', '/datavolume-mutate', ['CREATE'], 'cdi.kubevirt.io', 'datavolumes'), hook('pvc-mutate.cdi.kubevirt.io', '/pvc-mutate', ['CREATE'], '', 'persistentvolumeclaims')] };
    expect((await curl(admin, 'POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', json(validating))).code).toBe(201);
    expect((await curl(admin, 'POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', json(mutating))).code).toBe(201);
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await api?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('refuses an invalid DataVolume with upstream\'s text, as the webhook\'s 422', async () => {
    const refused = await kubectlWithInput(saKubeconfig, dataVolumeYaml('nosource', ''), 'create', '-f', '-');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('admission webhook "datavolume-validate.cdi.kubevirt.io" denied the request:  Data volume should have either Source or SourceRef, or be externally populated');
    expect(await exists('nosource')).toBe(false);
    const small = await curl(admin, 'POST', '/apis/cdi.kubevirt.io/v1beta1/namespaces/team/datavolumes', json({ metadata: { name: 'tiny' }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Ki' } } } } }));
    expect(small.code).toBe(422);
    expect(small.json().message).toContain('Storage size should be at least 1MiB');
  });

  it('refuses a cross-namespace clone until datavolumes/source is granted, deciding by a real SubjectAccessReview', async () => {
    const denied = await kubectlWithInput(saKubeconfig, dataVolumeYaml('copy', cloneSpec), 'create', '-f', '-');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(`admission webhook "datavolume-mutate.cdi.kubevirt.io" denied the request:  User ${SA} has insufficient permissions in clone source namespace golden`);
    expect(await exists('copy')).toBe(false);
    // The cluster-mode webhook itself refused it (its log), not only cdi serve's in-process check.
    await vi.waitFor(() => expect(output).toContain(`User ${SA} has insufficient permissions in clone source namespace golden`), { timeout: 5000 });
    const cloner = { metadata: { name: 'cdi-cloner' }, rules: [{ apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes/source'], verbs: ['create'] }] };
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', json(cloner))).code).toBe(201);
    const grant = { metadata: { name: 'builder-cloner' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cdi-cloner' }, subjects: [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team' }] };
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/golden/rolebindings', json(grant))).code).toBe(201);
    const allowed = await kubectlWithInput(saKubeconfig, dataVolumeYaml('copy', cloneSpec), 'create', '-f', '-');
    expect(allowed.stderr).toBe('');
    expect(allowed.stdout).toContain('datavolume.cdi.kubevirt.io/copy created');
  });

  it('answers bad reviews on its endpoints with clear refusals', async () => {
    const garbage = await curlWebhook('/datavolume-validate', '{"apiVersion": admission');
    expect(garbage.code).toBe(400);
    expect(JSON.parse(garbage.body)).toMatchObject({ kind: 'AdmissionReview', response: { allowed: false, status: { code: 400 } } });
    const review = (request: object) => json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'r1', kind: { group: 'cdi.kubevirt.io', version: 'v1beta1', kind: 'DataVolume' }, resource: { group: 'cdi.kubevirt.io', version: 'v1beta1', resource: 'datavolumes' }, namespace: 'team', operation: 'CREATE', userInfo: { username: 'alice' }, ...request } });
    const missing = await curlWebhook('/datavolume-validate', review({}));
    expect(missing.code).toBe(200);
    expect(JSON.parse(missing.body).response).toEqual({ uid: 'r1', allowed: false, status: { code: 400, message: 'AdmissionReview.request.object is missing' } });
    const wrongKind = await curlWebhook('/datavolume-mutate', review({ object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p' } } }));
    expect(JSON.parse(wrongKind.body).response.status).toEqual({ code: 400, message: 'expected a DataVolume object, got Pod' });
    const noRequest = await curlWebhook('/pvc-mutate', json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }));
    expect(JSON.parse(noRequest.body).response.status).toEqual({ code: 400, message: 'AdmissionReview.Request is nil' });
  });

  it('refuses expired, orphaned and forged tokens before admission, creating nothing', async () => {
    const keys = await loadOrCreateServiceAccountKeys(join(dir, 'api'));
    const uid = ((await curl(admin, 'GET', '/api/v1/namespaces/team/serviceaccounts/builder')).json().metadata as { uid: string }).uid;
    const audiences = ['https://kubernetes.default.svc.cluster.local'];
    const expired = await signServiceAccountToken(keys, { namespace: 'team', name: 'builder', uid }, { audiences, expirationSeconds: 600, now: new Date(Date.now() - 2 * hour) });
    const forgedKey = createPrivateKey((await generateSigningKey()).privatePem);
    const forged = await signServiceAccountToken({ privateKey: forgedKey, publicKey: createPublicKey(forgedKey) }, { namespace: 'team', name: 'builder', uid }, { audiences, expirationSeconds: 3600 });
    expect((await curl(admin, 'POST', '/api/v1/namespaces/team/serviceaccounts', json({ metadata: { name: 'temp' } }))).code).toBe(201);
    const orphaned = ((await curl(admin, 'POST', '/api/v1/namespaces/team/serviceaccounts/temp/token', json({ spec: {} }))).json().status as { token: string }).token;
    expect((await curl(admin, 'DELETE', '/api/v1/namespaces/team/serviceaccounts/temp')).code).toBe(200);
    for (const [which, token] of [['expired', expired.token], ['forged', forged.token], ['orphaned', orphaned]] as const) {
      const kubeconfig = join(dir, 'sa', `${which}.kubeconfig`);
      await writeKubeconfig(kubeconfig, renderKubeconfig(api.url, api.caPem, token));
      const refused = await kubectlWithInput(kubeconfig, dataVolumeYaml(`by-${which}`, '  source:\n    blank: {}'), 'create', '-f', '-');
      expect(refused.code, which).toBe(1);
      expect(refused.stderr, which).toMatch(/Unauthorized|must be logged in/);
      expect(await exists(`by-${which}`), which).toBe(false);
    }
  });

  it('fails closed once the webhook is gone (failurePolicy Fail), with kube-apiserver\'s text', async () => {
    child.kill('SIGTERM');
    await exited;
    const reply = await curl(admin, 'POST', '/apis/cdi.kubevirt.io/v1beta1/namespaces/team/datavolumes', json({ metadata: { name: 'orphan' }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } }));
    expect(reply.code).toBe(500);
    expect(reply.json().message).toMatch(/^Internal error occurred: failed calling webhook "datavolume-mutate.cdi.kubevirt.io": failed to call webhook: Post "https:\/\/127\.0\.0\.1:\d+\/datavolume-mutate\?timeout=10s": /);
    expect(await exists('orphan')).toBe(false);
  });
});
