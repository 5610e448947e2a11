import {
  makeInformer,
  type Informer,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Secret,
  type V1Service,
  type V1StorageClass,
} from '@kubernetes/client-node';
import type { CdiConfig } from '../api/cdiconfig.ts';
import type { DataSource } from '../api/datasource.ts';
import { Group, Version, type DataVolume } from '../api/datavolume.ts';
import type { Logger } from '../api/logger.ts';
import type { StorageProfile } from '../api/storageprofile.ts';
import type { Kube } from './kube.ts';

/** The caches the controllers read, each kept by a client-node list+watch informer. */
export type Cache<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export interface Caches {
  dataVolumes: Cache<DataVolume & KubernetesObject>;
  claims: Cache<V1PersistentVolumeClaim>;
  pods: Cache<V1Pod>;
  services: Cache<V1Service>;
  secrets: Cache<V1Secret>;
  storageClasses: Cache<V1StorageClass>;
  profiles: Cache<StorageProfile & KubernetesObject>;
  configs: Cache<CdiConfig & KubernetesObject>;
  dataSources: Cache<DataSource & KubernetesObject>;
}

export const cdi = (plural: string) => ({ group: Group, version: Version, plural });

export function makeCaches(kube: Kube): Caches {
  const kc = kube.kubeConfig;
  const core = kube.core;
  const custom = <T extends KubernetesObject>(plural: string) =>
    makeInformer<T>(kc, `/apis/${Group}/${Version}/${plural}`, () => kube.listCustom<T>(cdi(plural)));
  return {
    dataVolumes: custom('datavolumes'),
    claims: makeInformer(kc, '/api/v1/persistentvolumeclaims', () => core.listPersistentVolumeClaimForAllNamespaces()),
    pods: makeInformer(kc, '/api/v1/pods', () => core.listPodForAllNamespaces()),
    services: makeInformer(kc, '/api/v1/services', () => core.listServiceForAllNamespaces()),
    secrets: makeInformer(kc, '/api/v1/secrets', () => core.listSecretForAllNamespaces()),
    storageClasses: makeInformer(kc, '/apis/storage.k8s.io/v1/storageclasses', () =>
      kube.listCustom<V1StorageClass>({ group: 'storage.k8s.io', version: 'v1', plural: 'storageclasses' }),
    ),
    profiles: custom('storageprofiles'),
    configs: custom('cdiconfigs'),
    dataSources: custom('datasources'),
  };
}

/** Starts informers and resolves once each has listed; watch errors are logged and the informer restarts. */
export async function startAll(caches: Record<string, Cache<KubernetesObject>>, logger: Logger, stopped: { value: boolean }): Promise<void> {
  await Promise.all(
    Object.entries(caches).map(async ([name, informer]) => {
      const restart = () => {
        if (stopped.value) return;
        informer.start().catch((err) => {
          logger.warn({ informer: name, err: String(err) }, 'relist failed; retrying');
          setTimeout(restart, 1000).unref();
        });
      };
      informer.on('error', (err) => {
        if (stopped.value) return;
        logger.warn({ informer: name, err: String(err) }, 'watch failed; restarting');
        setTimeout(restart, 1000).unref();
      });
      await informer.start();
    }),
  );
}

export type ListOf<T> = KubernetesListObject<T & KubernetesObject>;
