import type { V1OwnerReference, V1Secret } from '@kubernetes/client-node';
import { Label } from '../api/annotations.ts';
import type { Logger } from '../api/logger.ts';
import { issueCertificate } from '../cluster/pki/certificate.ts';
import { kubernetesCertStore } from '../cluster/pki/kube-store.ts';
import { CdiCertLifetimes, cdiCertSpecs, readSigner, syncCertificates, TlsKeys, type CertStore } from '../cluster/pki/rotation.ts';
import type { Kube } from './kube.ts';

/**
 * The upload servers' TLS: CDI's signers live in Secrets of the controller's namespace (which
 * must exist: the manifests install it, `cdi serve` creates it); each upload pod gets a serving certificate for its Service plus the
 * client signer's bundle, and each clone source a client certificate with the CN its target expects.
 */
export class UploadPki {
  private readonly store: CertStore;
  private readonly kube: Kube;
  readonly namespace: string;
  private readonly logger: Logger;

  constructor(kube: Kube, namespace: string, logger: Logger) {
    this.kube = kube;
    this.namespace = namespace;
    this.logger = logger;
    this.store = kubernetesCertStore(kube.core, namespace);
  }

  async sync(): Promise<Date> {
    const result = await syncCertificates({ store: this.store, specs: cdiCertSpecs(this.namespace), now: new Date(), logger: this.logger });
    return result.nextRotation;
  }

  private async bundle(configMap: string): Promise<string> {
    return (await this.store.readConfigMap(configMap))?.[TlsKeys.bundle] ?? '';
  }

  private async signer(secret: string) {
    const signer = await readSigner(this.store, secret);
    if (!signer) throw new Error(`signer secret ${this.namespace}/${secret} is missing`);
    return signer;
  }

  async serverSecret(namespace: string, name: string, service: string, owner: V1OwnerReference): Promise<V1Secret> {
    const now = new Date();
    // 127.0.0.1 too: in embedded mode every pod listens on loopback and is dialled by address.
    const hostnames = [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, '127.0.0.1'];
    const issued = issueCertificate(
      { commonName: `${service}.${namespace}.svc`, usage: 'server', hostnames, notBefore: now, notAfter: new Date(now.getTime() + CdiCertLifetimes.leaf.durationMs) },
      await this.signer('cdi-uploadserver-signer'),
    );
    const clientCa = await this.bundle('cdi-uploadserver-client-signer-bundle');
    return secret(namespace, name, { 'tls.key': issued.keyPem, 'tls.crt': issued.certPem, 'ca.crt': clientCa }, [owner]);
  }

  async clientSecret(namespace: string, name: string, commonName: string, labels: Record<string, string>): Promise<V1Secret> {
    const now = new Date();
    const issued = issueCertificate(
      { commonName, usage: 'client', notBefore: now, notAfter: new Date(now.getTime() + CdiCertLifetimes.leaf.durationMs) },
      await this.signer('cdi-uploadserver-client-signer'),
    );
    const serverCa = await this.bundle('cdi-uploadserver-signer-bundle');
    const s = secret(namespace, name, { 'tls.key': issued.keyPem, 'tls.crt': issued.certPem, 'ca.crt': serverCa }, []);
    s.metadata!.labels = { ...s.metadata!.labels, ...labels };
    return s;
  }
}

function secret(namespace: string, name: string, data: Record<string, string>, owners: V1OwnerReference[]): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, labels: { [Label.app]: Label.appValue }, ...(owners.length ? { ownerReferences: owners } : {}) },
    type: 'Opaque',
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  };
}
