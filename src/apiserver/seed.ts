import { LocalProvisioner, LocalStorageClass } from '../node/layout.ts';
import { findKind, type KindInfo, type KubeObject } from './kinds.ts';
import type { ObjectService } from './objects.ts';

/**
 * What a fresh cluster with CDI installed already has: the `default` namespace, a default
 * StorageClass `local` (served by the local node agent) and the `config` CDIConfig singleton.
 * Created when missing, never overwritten.
 */
const defaults: Array<[KindInfo, KubeObject]> = [
  [findKind('', 'v1', 'namespaces')!, { metadata: { name: 'default' }, spec: { finalizers: ['kubernetes'] } }],
  [
    findKind('storage.k8s.io', 'v1', 'storageclasses')!,
    {
      metadata: { name: LocalStorageClass, annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
      provisioner: LocalProvisioner,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'Immediate',
      allowVolumeExpansion: true,
    },
  ],
  [findKind('cdi.kubevirt.io', 'v1beta1', 'cdiconfigs')!, { metadata: { name: 'config' }, spec: {} }],
];

export function seedDefaults(service: ObjectService): void {
  for (const [info, obj] of defaults) {
    if (!service.find(info, undefined, obj.metadata!.name!)) service.create(info, undefined, structuredClone(obj));
  }
}
