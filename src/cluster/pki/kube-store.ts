import type { CoreV1Api } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube-errors.ts';
import type { CertStore } from './rotation.ts';

const ManagedBy = { 'app.kubernetes.io/managed-by': 'cdi-controller', 'cdi.kubevirt.io': '' };

const encode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
const decode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));

/** Certificate state in the Secrets and ConfigMaps of one namespace, through the Kubernetes API. */
export function kubernetesCertStore(core: CoreV1Api, namespace: string): CertStore {
  async function readOrUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
    try {
      return await read();
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
  async function createOrReplace(create: () => Promise<unknown>, replace: () => Promise<unknown>): Promise<void> {
    try {
      await create();
    } catch (err) {
      if (!isConflict(err)) throw err;
      await replace();
    }
  }
  return {
    async readSecret(name) {
      const secret = await readOrUndefined(() => core.readNamespacedSecret({ name, namespace }));
      return secret ? decode(secret.data ?? {}) : undefined;
    },
    async writeSecret(name, type, data) {
      const body = { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace, labels: ManagedBy }, type, data: encode(data) };
      await createOrReplace(
        () => core.createNamespacedSecret({ namespace, body }),
        () => core.replaceNamespacedSecret({ name, namespace, body }),
      );
    },
    async readConfigMap(name) {
      const configMap = await readOrUndefined(() => core.readNamespacedConfigMap({ name, namespace }));
      return configMap ? (configMap.data ?? {}) : undefined;
    },
    async writeConfigMap(name, data) {
      const body = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace, labels: ManagedBy }, data };
      await createOrReplace(
        () => core.createNamespacedConfigMap({ namespace, body }),
        () => core.replaceNamespacedConfigMap({ name, namespace, body }),
      );
    },
  };
}
