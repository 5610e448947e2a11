import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { AdmissionregistrationV1Api, CoreV1Api, KubeConfig, type V1APIService } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/api/logger.ts';
import { signUploadToken, verifyUploadToken } from '../../src/api/upload-token.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { parseBundle } from '../../src/cluster/pki/certificate.ts';
import { UploadApiServiceName, WebhookConfigurations, runCertController } from '../../src/cluster/pki/cert-controller.ts';
import { kubernetesCertStore } from '../../src/cluster/pki/kube-store.ts';
import { cdiCertSpecs } from '../../src/cluster/pki/rotation.ts';

/**
 * The leader's certificate controller writing real Secrets and ConfigMaps through the embedded
 * API server. The embedded server has no apiregistration.k8s.io, so the APIService is an
 * in-memory stand-in that keeps what the controller replaces.
 */
describe('certificate controller against the embedded API server', () => {
  let dataDir: string;
  let api: ApiServerHandle;
  let core: CoreV1Api;
  let admission: AdmissionregistrationV1Api;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cdi-certs-'));
    api = await startApiServer({ dataDir, logger: silentLogger });
    const kc = new KubeConfig();
    kc.loadFromFile(api.kubeconfigPath);
    core = kc.makeApiClient(CoreV1Api);
    admission = kc.makeApiClient(AdmissionregistrationV1Api);
    await core.createNamespace({ body: { metadata: { name: 'cdi' } } });
  });
  afterAll(async () => {
    await api?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates the signing key, signers, bundles and leaves, and publishes the token API CA bundle', async () => {
    let apiService: V1APIService = { metadata: { name: UploadApiServiceName, resourceVersion: '1' }, spec: { group: 'upload.cdi.kubevirt.io', version: 'v1beta1', groupPriorityMinimum: 1000, versionPriority: 15 } };
    const replaced: V1APIService[] = [];
    const apiServices = {
      readAPIService: async () => structuredClone(apiService),
      replaceAPIService: async ({ body }: { body: V1APIService }) => {
        replaced.push(body);
        apiService = body;
        return body;
      },
    };
    const stop = new AbortController();
    const firstPass = Promise.withResolvers<void>();
    const running = runCertController({ store: kubernetesCertStore(core, 'cdi'), specs: cdiCertSpecs('cdi'), apiServices, logger: silentLogger, signal: stop.signal, onFirstPass: firstPass.resolve });
    await firstPass.promise;
    stop.abort();
    await running;

    const secret = async (name: string) => {
      const data = (await core.readNamespacedSecret({ name, namespace: 'cdi' })).data ?? {};
      return Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
    };
    const key = await secret('cdi-api-signing-key');
    expect(await verifyUploadToken(key['id_rsa.pub']!, await signUploadToken(key.id_rsa!, { name: 'disk', namespace: 'ns' }))).toEqual({ name: 'disk', namespace: 'ns' });

    const signer = new X509Certificate((await secret('cdi-apiserver-signer'))['tls.crt']!);
    const serving = new X509Certificate((await secret('cdi-apiserver-server-cert'))['tls.crt']!);
    expect(serving.checkIssued(signer) && serving.verify(signer.publicKey)).toBe(true);
    expect(serving.subjectAltName).toContain('DNS:cdi-api.cdi.svc');
    const bundle = (await core.readNamespacedConfigMap({ name: 'cdi-apiserver-signer-bundle', namespace: 'cdi' })).data?.['ca-bundle.crt'];
    expect(parseBundle(bundle!).map((c) => c.fingerprint256)).toEqual([signer.fingerprint256]);
    expect(Buffer.from(replaced[0]!.spec!.caBundle!, 'base64').toString()).toBe(bundle);
    for (const name of ['cdi-uploadproxy-server-cert', 'cdi-uploadserver-client-cert', 'cdi-uploadserver-signer', 'cdi-uploadserver-client-signer']) {
      expect(Object.keys(await secret(name))).toContain('tls.crt');
    }

    // a second run changes nothing: same signer, no new APIService write
    const again = new AbortController();
    const secondPass = Promise.withResolvers<void>();
    const second = runCertController({ store: kubernetesCertStore(core, 'cdi'), specs: cdiCertSpecs('cdi'), apiServices, logger: silentLogger, signal: again.signal, onFirstPass: secondPass.resolve });
    await secondPass.promise;
    again.abort();
    await second;
    expect(replaced).toHaveLength(1);
    expect(new X509Certificate((await secret('cdi-apiserver-signer'))['tls.crt']!).fingerprint256).toBe(signer.fingerprint256);
  });

  it('writes the signer bundle into every webhook of docker/deploy/webhooks.yaml, and again when it is lost', async () => {
    const manifests = parseAllDocuments(readFileSync(join(import.meta.dirname, '..', '..', 'docker', 'deploy', 'webhooks.yaml'), 'utf8')).map((d) => d.toJS() as { kind: string });
    for (const m of manifests) {
      if (m.kind === 'ValidatingWebhookConfiguration') await admission.createValidatingWebhookConfiguration({ body: m as never });
      else await admission.createMutatingWebhookConfiguration({ body: m as never });
    }
    const caBundles = async () => [
      ...((await admission.readValidatingWebhookConfiguration({ name: WebhookConfigurations.dataVolumeValidate })).webhooks ?? []),
      ...((await admission.readMutatingWebhookConfiguration({ name: WebhookConfigurations.dataVolumeMutate })).webhooks ?? []),
      ...((await admission.readMutatingWebhookConfiguration({ name: WebhookConfigurations.pvcMutate })).webhooks ?? []),
    ].map((w) => w.clientConfig.caBundle);
    expect(await caBundles()).toEqual([undefined, undefined, undefined]);
    const run = async () => {
      const stop = new AbortController();
      let passed: () => void = () => {};
      const firstPass = new Promise<void>((resolve) => (passed = resolve));
      const running = runCertController({ store: kubernetesCertStore(core, 'cdi'), specs: cdiCertSpecs('cdi'), webhookConfigurations: admission, logger: silentLogger, signal: stop.signal, onFirstPass: passed });
      await firstPass;
      stop.abort();
      await running;
    };
    await run();
    const bundle = (await core.readNamespacedConfigMap({ name: 'cdi-apiserver-signer-bundle', namespace: 'cdi' })).data?.['ca-bundle.crt'];
    const expected = Buffer.from(bundle!).toString('base64');
    expect(await caBundles()).toEqual([expected, expected, expected]);
    const lost = await admission.readMutatingWebhookConfiguration({ name: WebhookConfigurations.pvcMutate });
    await admission.replaceMutatingWebhookConfiguration({ name: WebhookConfigurations.pvcMutate, body: { ...lost, webhooks: lost.webhooks!.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle: undefined } })) } });
    await run();
    expect(await caBundles()).toEqual([expected, expected, expected]);
  });

  it('never overwrites a concurrent writer: a stale create or replace fails with 409 and the next read sees the winner', async () => {
    const a = kubernetesCertStore(core, 'cdi');
    const b = kubernetesCertStore(core, 'cdi');
    expect(await a.readSecret('race')).toBeUndefined();
    expect(await b.readSecret('race')).toBeUndefined();
    await b.writeSecret('race', 'Opaque', { who: 'b' });
    await expect(a.writeSecret('race', 'Opaque', { who: 'a' })).rejects.toMatchObject({ code: 409 });
    expect(await a.readSecret('race')).toEqual({ who: 'b' });

    // both read the same version; the second replace is stale
    expect(await b.readSecret('race')).toEqual({ who: 'b' });
    await a.writeSecret('race', 'Opaque', { who: 'a' });
    await expect(b.writeSecret('race', 'Opaque', { who: 'b2' })).rejects.toMatchObject({ code: 409 });
    expect(await b.readConfigMap('missing')).toBeUndefined();
    expect(await a.readSecret('race')).toEqual({ who: 'a' });
  });
});
