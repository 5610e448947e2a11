import {
  makeInformer,
  type Informer,
  type KubernetesObject,
  type ObjectCache,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Secret,
  type V1Service,
  type CoreV1Event,
  type V1StorageClass,
} from '@kubernetes/client-node';
import type { CdiConfig } from '../api/cdiconfig.ts';
import type { DataImportCron } from '../api/dataimportcron.ts';
import type { DataSource } from '../api/datasource.ts';
import { Group, Version, type DataVolume } from '../api/datavolume.ts';
import { CdiError } from '../api/errors.ts';
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
  dataImportCrons: Cache<DataImportCron & KubernetesObject>;
  /** Warning UploadFailed events the upload proxy records (UploadFailedReason), and no other events. */
  uploadFailures: Cache<CoreV1Event>;
}

export const cdi = (plural: string) => ({ group: Group, version: Version, plural });

export function makeCaches(kube: Kube): Caches {
  const kc = kube.kubeConfig;
  const informer = <T extends KubernetesObject>(path: string) => makeInformer<T>(kc, path, () => kube.listRaw<T>(path));
  const custom = <T extends KubernetesObject>(plural: string) => informer<T>(`/apis/${Group}/${Version}/${plural}`);
  return {
    dataVolumes: custom('datavolumes'),
    claims: informer('/api/v1/persistentvolumeclaims'),
    pods: informer('/api/v1/pods'),
    services: informer('/api/v1/services'),
    secrets: informer('/api/v1/secrets'),
    storageClasses: informer('/apis/storage.k8s.io/v1/storageclasses'),
    profiles: custom('storageprofiles'),
    configs: custom('cdiconfigs'),
    dataSources: custom('datasources'),
    dataImportCrons: custom('dataimportcrons'),
    uploadFailures: informer('/api/v1/events?fieldSelector=reason%3DUploadFailed'),
  };
}

/**
 * Every handler registered on the informer is guarded: one that throws (a malformed object the
 * controller cannot read) is logged with CDI_ERR_EVENT_HANDLER and the informer goes on. Unguarded,
 * a throw in a watch callback rejects client-node's async handler (an unhandled rejection ends
 * the process), and a throw during a list fails the relist, again and again.
 */
export function guardHandlers(name: string, informer: Cache<KubernetesObject>, logger: Logger): void {
  const on = informer.on.bind(informer);
  const guarded = new Map<unknown, (obj: KubernetesObject) => void>();
  informer.on = ((verb: Parameters<typeof on>[0], cb: (obj: KubernetesObject) => void) => {
    if (verb === 'error' || verb === 'connect') return on(verb, cb);
    const wrapped = (obj: KubernetesObject): void => {
      try {
        cb(obj);
      } catch (cause) {
        const what = `${verb} of ${name} ${obj?.metadata?.namespace ?? ''}/${obj?.metadata?.name ?? ''}: ${String(cause)}`;
        const err = new CdiError('CDI_ERR_EVENT_HANDLER', ['informer', what], { cause });
        logger.error({ code: err.code, informer: name, err }, err.message);
      }
    };
    guarded.set(cb, wrapped);
    on(verb, wrapped);
  }) as typeof informer.on;
  const off = informer.off.bind(informer);
  informer.off = ((verb: Parameters<typeof off>[0], cb: (obj: KubernetesObject) => void) => off(verb, (guarded.get(cb) ?? cb) as typeof cb)) as typeof informer.off;
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
