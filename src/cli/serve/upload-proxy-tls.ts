import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { CoreV1Api } from '@kubernetes/client-node';
import { CdiError } from '../../api/errors.ts';
import { issueCertificate } from '../../cluster/pki/certificate.ts';
import { TlsKeys } from '../../cluster/pki/rotation.ts';
import { renewalDue } from '../../cluster/pki/serving-renewal.ts';

const Year = 365 * 24 * 3600 * 1000;

/**
 * The upload proxy's serving certificate for localhost/127.0.0.1 (and the bind address), signed
 * by the CA of the data dir (`pki/ca.crt`, the one the kubeconfig trusts), so one CA covers both
 * endpoints. Reissued when missing, expired or 80% into its life (pki/serving-renewal.ts).
 */
export async function uploadProxyServingCert(dataDir: string, hostnames: readonly string[]): Promise<{ cert: string; key: string; caPem: string }> {
  const pki = path.join(dataDir, 'pki');
  const caPem = await fs.promises.readFile(path.join(pki, 'ca.crt'), 'utf8');
  const caKey = await fs.promises.readFile(path.join(pki, 'ca.key'), 'utf8');
  const certFile = path.join(pki, 'uploadproxy.crt');
  const keyFile = path.join(pki, 'uploadproxy.key');
  const existing = await Promise.all([fs.promises.readFile(certFile, 'utf8'), fs.promises.readFile(keyFile, 'utf8')]).catch(() => undefined);
  if (existing && stillGood(existing[0], caPem, hostnames)) return { cert: existing[0], key: existing[1], caPem };
  const now = new Date();
  const issued = issueCertificate(
    { commonName: 'cdi-uploadproxy', usage: 'server', hostnames: [...hostnames], notBefore: now, notAfter: new Date(now.getTime() + Year) },
    { certPem: caPem, keyPem: caKey },
  );
  await fs.promises.writeFile(keyFile, issued.keyPem, { mode: 0o600 });
  await fs.promises.writeFile(certFile, issued.certPem, { mode: 0o600 });
  return { cert: issued.certPem, key: issued.keyPem, caPem };
}

function stillGood(certPem: string, caPem: string, hostnames: readonly string[]): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    const names = cert.subjectAltName ?? '';
    return cert.verify(ca.publicKey) && Date.now() < renewalDue(certPem).getTime() && hostnames.every((h) => names.includes(h));
  } catch {
    return false;
  }
}

/**
 * What the proxy presents to upload servers: the client certificate CDI's operator keeps in
 * `cdi-uploadserver-client-cert` and the upload servers' signer bundle, both written by the
 * controller's PKI sync into the CDI namespace.
 */
export async function uploadClientTls(core: CoreV1Api, namespace: string): Promise<{ cert: string; key: string; ca: string }> {
  const secret = await core.readNamespacedSecret({ namespace, name: 'cdi-uploadserver-client-cert' });
  const bundle = await core.readNamespacedConfigMap({ namespace, name: 'cdi-uploadserver-signer-bundle' });
  const decode = (v: string | undefined) => (v ? Buffer.from(v, 'base64').toString('utf8') : '');
  const cert = decode(secret.data?.[TlsKeys.cert]);
  const key = decode(secret.data?.[TlsKeys.key]);
  const ca = bundle.data?.[TlsKeys.bundle] ?? '';
  if (!cert || !key || !ca) throw new CdiError('CDI_ERR_SERVE', [`upload client certificate in namespace ${namespace} is incomplete`]);
  return { cert, key, ca };
}
