import { X509Certificate } from 'node:crypto';
import type { Logger } from '../../api/logger.ts';
import { issueCertificate, parseBundle, type CertUsage, type Signer } from './certificate.ts';

/**
 * Certificate rotation as CDI's operator does it (pkg/operator/resources/cert): each signer
 * (CA) lives in a Secret, its trust bundle in a ConfigMap that keeps the previous signers until
 * they expire, and each leaf in a `kubernetes.io/tls` Secret re-issued before it runs out or
 * when its signer changed. Decisions are pure functions of the stored PEMs and `now`.
 */

export interface Lifetime {
  durationMs: number;
  /** Renew once the remaining validity drops below this (CDI's `renewBefore`). */
  renewBeforeMs: number;
}

export interface CertLifetimes {
  signer: Lifetime;
  leaf: Lifetime;
}

const hour = 3_600_000;
/** CDI's defaults: signers 48 h renewed with 24 h left, leaves 24 h renewed with 12 h left. */
export const CdiCertLifetimes: CertLifetimes = {
  signer: { durationMs: 48 * hour, renewBeforeMs: 24 * hour },
  leaf: { durationMs: 24 * hour, renewBeforeMs: 12 * hour },
};

export interface LeafSpec {
  secret: string;
  usage: Exclude<CertUsage, 'ca'>;
  commonName: string;
  hostnames?: readonly string[];
}

export interface SignerSpec {
  secret: string;
  bundle: string;
  leaves: readonly LeafSpec[];
}

/** Where rotation keeps its state: Secrets and ConfigMaps of one namespace. */
export interface CertStore {
  readSecret(name: string): Promise<Record<string, string> | undefined>;
  writeSecret(name: string, type: string, data: Record<string, string>): Promise<void>;
  readConfigMap(name: string): Promise<Record<string, string> | undefined>;
  writeConfigMap(name: string, data: Record<string, string>): Promise<void>;
}

export const TlsKeys = { cert: 'tls.crt', key: 'tls.key', bundle: 'ca-bundle.crt' } as const;
export const UploadClientCommonName = 'client.upload-server.cdi.kubevirt.io';

/** The signers and leaves of CDI's control plane in `namespace` (names as upstream CDI). */
export function cdiCertSpecs(namespace: string): SignerSpec[] {
  const serviceNames = (svc: string) => [svc, `${svc}.${namespace}`, `${svc}.${namespace}.svc`, `${svc}.${namespace}.svc.cluster.local`];
  return [
    {
      secret: 'cdi-apiserver-signer',
      bundle: 'cdi-apiserver-signer-bundle',
      leaves: [{ secret: 'cdi-apiserver-server-cert', usage: 'server', commonName: `cdi-api.${namespace}.svc`, hostnames: serviceNames('cdi-api') }],
    },
    {
      secret: 'cdi-uploadproxy-signer',
      bundle: 'cdi-uploadproxy-signer-bundle',
      leaves: [
        {
          secret: 'cdi-uploadproxy-server-cert',
          usage: 'server',
          commonName: `cdi-uploadproxy.${namespace}.svc`,
          hostnames: serviceNames('cdi-uploadproxy'),
        },
      ],
    },
    // Per-upload-pod serving certificates are issued from this signer by the controller.
    { secret: 'cdi-uploadserver-signer', bundle: 'cdi-uploadserver-signer-bundle', leaves: [] },
    {
      secret: 'cdi-uploadserver-client-signer',
      bundle: 'cdi-uploadserver-client-signer-bundle',
      leaves: [{ secret: 'cdi-uploadserver-client-cert', usage: 'client', commonName: UploadClientCommonName }],
    },
  ];
}

function parseCert(pem: string | undefined): X509Certificate | undefined {
  if (!pem) return undefined;
  try {
    return new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

/** When a certificate must be replaced: its notAfter minus renewBefore. */
export function renewalTime(cert: X509Certificate, lifetime: Lifetime): Date {
  return new Date(cert.validToDate.getTime() - lifetime.renewBeforeMs);
}

export function signerDue(cert: X509Certificate | undefined, now: Date, lifetime: Lifetime): boolean {
  return !cert || !cert.ca || now >= renewalTime(cert, lifetime);
}

export function leafDue(cert: X509Certificate | undefined, signer: X509Certificate, spec: LeafSpec, now: Date, lifetime: Lifetime): boolean {
  if (!cert || now >= renewalTime(cert, lifetime)) return true;
  if (!cert.checkIssued(signer) || !cert.verify(signer.publicKey)) return true;
  if (!cert.subject.split('\n').includes(`CN=${spec.commonName}`)) return true;
  return !sameHostnames(cert, spec.hostnames ?? []);
}

function sameHostnames(cert: X509Certificate, wanted: readonly string[]): boolean {
  const present = (cert.subjectAltName ?? '')
    .split(', ')
    .filter(Boolean)
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''));
  return present.length === wanted.length && wanted.every((h) => present.includes(h));
}

/** The current signer first, then older signers that have not expired, without duplicates. */
export function mergeBundle(current: X509Certificate, previousPem: string | undefined, now: Date): string {
  const seen = new Set<string>();
  const kept: X509Certificate[] = [];
  for (const cert of [current, ...parseBundle(previousPem ?? '')]) {
    if (seen.has(cert.fingerprint256) || cert.validToDate <= now) continue;
    seen.add(cert.fingerprint256);
    kept.push(cert);
  }
  return kept.map((c) => c.toString()).join('');
}

export interface SyncResult {
  /** Secrets and ConfigMaps written in this pass. */
  written: string[];
  /** The earliest time any certificate needs renewing. */
  nextRotation: Date;
  /** Trust bundles by ConfigMap name, as stored after this pass. */
  bundles: Record<string, string>;
}

export interface SyncOptions {
  store: CertStore;
  specs: readonly SignerSpec[];
  now: Date;
  lifetimes?: CertLifetimes;
  logger: Logger;
}

/** One reconcile pass: creates what is missing and renews what is due. Idempotent. */
export async function syncCertificates(opts: SyncOptions): Promise<SyncResult> {
  const { store, now, logger } = opts;
  const lifetimes = opts.lifetimes ?? CdiCertLifetimes;
  const written: string[] = [];
  const bundles: Record<string, string> = {};
  let next = Infinity;

  for (const spec of opts.specs) {
    const stored = await store.readSecret(spec.secret);
    let signer: Signer | undefined = stored?.[TlsKeys.cert] && stored[TlsKeys.key] ? { certPem: stored[TlsKeys.cert]!, keyPem: stored[TlsKeys.key]! } : undefined;
    let signerCert = parseCert(signer?.certPem);
    if (!signer || signerDue(signerCert, now, lifetimes.signer)) {
      const commonName = `${spec.secret}@${Math.floor(now.getTime() / 1000)}`;
      signer = issueCertificate({ commonName, usage: 'ca', notBefore: now, notAfter: new Date(now.getTime() + lifetimes.signer.durationMs) });
      signerCert = new X509Certificate(signer.certPem);
      await store.writeSecret(spec.secret, 'kubernetes.io/tls', { [TlsKeys.cert]: signer.certPem, [TlsKeys.key]: signer.keyPem });
      written.push(`Secret/${spec.secret}`);
      logger.info({ secret: spec.secret, notAfter: signerCert.validToDate }, 'rotated signer');
    }
    const issuer = signerCert!;
    next = Math.min(next, renewalTime(issuer, lifetimes.signer).getTime());

    const previousBundle = (await store.readConfigMap(spec.bundle))?.[TlsKeys.bundle];
    const bundle = mergeBundle(issuer, previousBundle, now);
    if (bundle !== previousBundle) {
      await store.writeConfigMap(spec.bundle, { [TlsKeys.bundle]: bundle });
      written.push(`ConfigMap/${spec.bundle}`);
    }
    bundles[spec.bundle] = bundle;

    for (const leafSpec of spec.leaves) {
      const current = parseCert((await store.readSecret(leafSpec.secret))?.[TlsKeys.cert]);
      let leaf = current;
      if (leafDue(current, issuer, leafSpec, now, lifetimes.leaf)) {
        const notAfter = new Date(Math.min(now.getTime() + lifetimes.leaf.durationMs, issuer.validToDate.getTime()));
        const issued = issueCertificate({ ...leafSpec, notBefore: now, notAfter }, signer);
        await store.writeSecret(leafSpec.secret, 'kubernetes.io/tls', {
          [TlsKeys.cert]: issued.certPem,
          [TlsKeys.key]: issued.keyPem,
          // the trust bundle rides along so a server can verify clients of its own signer
          'ca.crt': bundle,
        });
        written.push(`Secret/${leafSpec.secret}`);
        leaf = new X509Certificate(issued.certPem);
        logger.info({ secret: leafSpec.secret, notAfter }, 'rotated certificate');
      }
      next = Math.min(next, renewalTime(leaf!, lifetimes.leaf).getTime());
    }
  }
  return { written, nextRotation: new Date(next), bundles };
}

/** Reads a signer back from its Secret, for issuing per-pod certificates. */
export async function readSigner(store: CertStore, secret: string): Promise<Signer | undefined> {
  const data = await store.readSecret(secret);
  return data?.[TlsKeys.cert] && data[TlsKeys.key] ? { certPem: data[TlsKeys.cert]!, keyPem: data[TlsKeys.key]! } : undefined;
}

/** A serving certificate for one upload pod's Service, from the upload server signer. */
export function issueUploadServerCert(signer: Signer, service: string, namespace: string, now: Date, lifetime = CdiCertLifetimes.leaf) {
  const notAfter = new Date(Math.min(now.getTime() + lifetime.durationMs, new X509Certificate(signer.certPem).validToDate.getTime()));
  const hostnames = [service, `${service}.${namespace}`, `${service}.${namespace}.svc`];
  return issueCertificate({ commonName: `${service}.${namespace}.svc`, usage: 'server', hostnames, notBefore: now, notAfter }, signer);
}
