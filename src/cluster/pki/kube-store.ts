import type { CoreV1Api } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube-errors.ts';
import type { CertStore } from './rotation.ts';

const ManagedBy = { 'app.kubernetes.io/managed-by': 'cdi-controller', 'cdi.kubevirt.io': '' };

const encode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
const decode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

/**
 * Certificate state in the Secrets and ConfigMaps of one namespace, through the Kubernetes API.
 * A write follows the read before it optimistically: a name read as missing is created (never
 * replaced if someone created it meanwhile), a name read at a resourceVersion is replaced at that
 * version. A concurrent writer therefore makes this pass fail with 409 instead of being
 * overwritten with certificates issued from a stale signer; the next pass reads again.
 */
export function kubernetesCertStore(core: CoreV1Api, namespace: string): CertStore {
  // name → resourceVersion at the last read, or null when it was read as missing
  const seen = new Map<string, string | null>();
  const key = (kind: string, name: string) => `${kind}/${name}`;

  async function read<T extends { metadata?: { resourceVersion?: string } }>(kind: string, name: string, get: () => Promise<T>): Promise<T | undefined> {
    try {
      const object = await get();
      seen.set(key(kind, name), object.metadata?.resourceVersion ?? null);
      return object;
    } catch (err) {
      if (!isNotFound(err)) throw err;
      seen.set(key(kind, name), null);
      return undefined;
    }
  }

  async function write(kind: string, name: string, create: () => Promise<unknown>, replace: (resourceVersion: string | undefined) => Promise<unknown>): Promise<void> {
    const k = key(kind, name);
    const version = seen.get(k);
    seen.delete(k);
    if (version === null) return void (await create());
    if (version !== undefined) return void (await replace(version));
    try {
      await create();
    } catch (err) {
      if (!isConflict(err)) throw err;
      await replace(undefined);
    }
  }

  return {
    async readSecret(name) {
      const secret = await read('Secret', name, () => core.readNamespacedSecret({ name, namespace }));
      return secret ? decode(secret.data ?? {}) : undefined;
    },
    async writeSecret(name, type, data) {
      const body = (resourceVersion?: string) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace, labels: ManagedBy, ...(resourceVersion ? { resourceVersion } : {}) },
        type,
        data: encode(data),
      });
      await write(
        'Secret',
        name,
        () => core.createNamespacedSecret({ namespace, body: body() }),
        (rv) => core.replaceNamespacedSecret({ name, namespace, body: body(rv) }),
      );
    },
    async readConfigMap(name) {
      const configMap = await read('ConfigMap', name, () => core.readNamespacedConfigMap({ name, namespace }));
      return configMap ? (configMap.data ?? {}) : undefined;
    },
    async writeConfigMap(name, data) {
      const body = (resourceVersion?: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: ManagedBy, ...(resourceVersion ? { resourceVersion } : {}) }, data });
      await write(
        'ConfigMap',
        name,
        () => core.createNamespacedConfigMap({ namespace, body: body() }),
        (rv) => core.replaceNamespacedConfigMap({ name, namespace, body: body(rv) }),
      );
    },
  };
}
