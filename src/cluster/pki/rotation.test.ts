import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../api/logger.ts';
import { parseBundle } from './certificate.ts';
import { cdiCertSpecs, issueUploadServerCert, readSigner, syncCertificates, type CertStore } from './rotation.ts';

function memoryStore(): CertStore & { secrets: Map<string, Record<string, string>>; configMaps: Map<string, Record<string, string>> } {
  const secrets = new Map<string, Record<string, string>>();
  const configMaps = new Map<string, Record<string, string>>();
  return {
    secrets,
    configMaps,
    readSecret: async (name) => secrets.get(name),
    writeSecret: async (name, _type, data) => void secrets.set(name, data),
    readConfigMap: async (name) => configMaps.get(name),
    writeConfigMap: async (name, data) => void configMaps.set(name, data),
  };
}

const hour = 3_600_000;
const t0 = new Date('2026-11-30T00:00:00Z');
const at = (hours: number) => new Date(t0.getTime() + hours * hour);
const certOf = (store: ReturnType<typeof memoryStore>, secret: string) => new X509Certificate(store.secrets.get(secret)!['tls.crt']!);

describe('certificate rotation with CDI lifetimes', () => {
  const specs = cdiCertSpecs('cdi');
  const proxySigner = 'cdi-uploadproxy-signer';
  const proxyLeaf = 'cdi-uploadproxy-server-cert';
  const proxyBundle = 'cdi-uploadproxy-signer-bundle';

  it('creates every signer, bundle and leaf on the first pass, then nothing until renewal is due', async () => {
    const store = memoryStore();
    const first = await syncCertificates({ store, specs, now: t0, logger: silentLogger });
    expect(first.written).toHaveLength(4 + 4 + 3);
    const signer = certOf(store, proxySigner);
    const leaf = certOf(store, proxyLeaf);
    expect(signer.ca).toBe(true);
    expect(signer.validToDate.getTime() - signer.validFromDate.getTime()).toBe(48 * hour);
    expect(leaf.validToDate.getTime() - leaf.validFromDate.getTime()).toBe(24 * hour);
    expect(leaf.checkIssued(signer) && leaf.verify(signer.publicKey)).toBe(true);
    expect(leaf.subjectAltName).toContain('DNS:cdi-uploadproxy.cdi.svc');
    expect(certOf(store, 'cdi-uploadserver-client-cert').subject).toBe('CN=client.upload-server.cdi.kubevirt.io');
    expect(first.nextRotation).toEqual(at(12));

    const again = await syncCertificates({ store, specs, now: at(11.99), logger: silentLogger });
    expect(again.written).toEqual([]);
    expect(certOf(store, proxyLeaf).fingerprint256).toBe(leaf.fingerprint256);
  });

  it('renews leaves at half their life and signers at half theirs, keeping the old CA trusted until it expires', async () => {
    const store = memoryStore();
    await syncCertificates({ store, specs, now: t0, logger: silentLogger });
    const signer0 = certOf(store, proxySigner);

    const half = await syncCertificates({ store, specs, now: at(12), logger: silentLogger });
    expect(half.written).toEqual(['Secret/cdi-apiserver-server-cert', 'Secret/cdi-uploadproxy-server-cert', 'Secret/cdi-uploadserver-client-cert']);
    expect(certOf(store, proxySigner).fingerprint256).toBe(signer0.fingerprint256);
    expect(half.nextRotation).toEqual(at(24));

    const day = await syncCertificates({ store, specs, now: at(24), logger: silentLogger });
    expect(day.written).toContain(`Secret/${proxySigner}`);
    expect(day.written).toContain(`ConfigMap/${proxyBundle}`);
    const signer1 = certOf(store, proxySigner);
    expect(signer1.fingerprint256).not.toBe(signer0.fingerprint256);
    const leaf = certOf(store, proxyLeaf);
    expect(leaf.checkIssued(signer1) && leaf.verify(signer1.publicKey)).toBe(true);
    const trusted = parseBundle(store.configMaps.get(proxyBundle)!['ca-bundle.crt']!).map((c) => c.fingerprint256);
    expect(trusted).toEqual([signer1.fingerprint256, signer0.fingerprint256]);
    expect(store.secrets.get(proxyLeaf)!['ca.crt']).toBe(store.configMaps.get(proxyBundle)!['ca-bundle.crt']);

    // signer0 expires at 48 h; at 48 h the next signer rotation happens and signer0 leaves the bundle
    await syncCertificates({ store, specs, now: at(48), logger: silentLogger });
    const bundle = parseBundle(store.configMaps.get(proxyBundle)!['ca-bundle.crt']!).map((c) => c.fingerprint256);
    expect(bundle).not.toContain(signer0.fingerprint256);
    expect(bundle).toContain(signer1.fingerprint256);
    expect(bundle).toHaveLength(2);
  });

  it('re-issues a leaf that a foreign or corrupt signer produced', async () => {
    const store = memoryStore();
    await syncCertificates({ store, specs, now: t0, logger: silentLogger });
    store.secrets.set(proxyLeaf, { 'tls.crt': 'garbage', 'tls.key': 'garbage' });
    const other = memoryStore();
    await syncCertificates({ store: other, specs, now: t0, logger: silentLogger });
    store.secrets.set('cdi-apiserver-server-cert', other.secrets.get('cdi-apiserver-server-cert')!);
    const pass = await syncCertificates({ store, specs, now: at(1), logger: silentLogger });
    expect(pass.written.sort()).toEqual(['Secret/cdi-apiserver-server-cert', `Secret/${proxyLeaf}`]);
  });

  it('issues per-upload-pod serving certificates from the upload server signer', async () => {
    const store = memoryStore();
    await syncCertificates({ store, specs, now: t0, logger: silentLogger });
    const signer = (await readSigner(store, 'cdi-uploadserver-signer'))!;
    const issued = issueUploadServerCert(signer, 'cdi-upload-disk', 'default', at(40));
    const cert = new X509Certificate(issued.certPem);
    expect(cert.subjectAltName).toBe('DNS:cdi-upload-disk, DNS:cdi-upload-disk.default, DNS:cdi-upload-disk.default.svc');
    // capped at the signer's own expiry (48 h)
    expect(cert.validToDate).toEqual(at(48));
  });
});
