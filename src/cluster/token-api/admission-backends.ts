import { AuthorizationV1Api, CoreV1Api, CustomObjectsApi, StorageV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { AdmissionBackends } from '../../admission/endpoints.ts';
import { CdiConfigName, type CdiConfig } from '../../api/cdiconfig.ts';
import type { DataSource } from '../../api/datasource.ts';
import type { StorageProfile } from '../../api/storageprofile.ts';
import type { ClaimLike } from '../../api/validation.ts';
import { defaultStorageClass } from '../../api/claim-sizing.ts';
import { isNotFound } from '../kube-errors.ts';

/**
 * What CDI's webhooks look up, asked of the cluster's API: claims, DataSources, StorageProfiles,
 * storage classes and CDIConfig, and a SubjectAccessReview for the requesting user (the
 * cluster's authorizer, whatever it runs, decides clones).
 */
const cdi = { group: 'cdi.kubevirt.io', version: 'v1beta1' };

async function orMissing<T>(read: Promise<T>): Promise<T | undefined> {
  try {
    return await read;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function clusterAdmissionBackends(kubeConfig: KubeConfig): AdmissionBackends {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  const storage = kubeConfig.makeApiClient(StorageV1Api);
  const authorization = kubeConfig.makeApiClient(AuthorizationV1Api);
  return {
    dataVolumes: {
      getPvc: async (namespace, name) => (await orMissing(core.readNamespacedPersistentVolumeClaim({ namespace, name }))) as ClaimLike | undefined,
    },
    cloneAccess: {
      canI: async (user, check) => {
        const review = await authorization.createSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SubjectAccessReview',
            spec: {
              user: user.username,
              ...(user.uid ? { uid: user.uid } : {}),
              groups: user.groups ?? [],
              ...(user.extra ? { extra: user.extra } : {}),
              resourceAttributes: { namespace: check.namespace, verb: check.verb, group: check.group, resource: check.resource, ...(check.subresource ? { subresource: check.subresource } : {}), name: check.name },
            },
          },
        });
        return review.status?.allowed === true && review.status.denied !== true;
      },
      getDataSource: async (namespace, name) =>
        (await orMissing(custom.getNamespacedCustomObject({ ...cdi, namespace, plural: 'datasources', name }))) as DataSource | undefined,
    },
    profiles: {
      getStorageProfile: async (name) => (await orMissing(custom.getClusterCustomObject({ ...cdi, plural: 'storageprofiles', name }))) as StorageProfile | undefined,
      defaultStorageClass: async () => defaultStorageClass((await storage.listStorageClass()).items),
      getConfig: async () => (await orMissing(custom.getClusterCustomObject({ ...cdi, plural: 'cdiconfigs', name: CdiConfigName }))) as CdiConfig | undefined,
    },
  };
}
