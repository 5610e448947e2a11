import { arr, int, map, obj, opaque, quantity, str, strEnum, type Static } from './schema.ts';

/** The core/v1 pieces the cdi.kubevirt.io kinds embed, as structural schemas. */

export const AccessModes = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;

export const ResourceRequirementsSchema = obj(
  {
    limits: map(quantity(), { description: 'Most of each resource that may be used.' }),
    requests: map(quantity(), { description: 'Least of each resource that is needed (storage: the size of a claim).' }),
  },
  [],
  { description: 'Resource requests and limits.' },
);
export type ResourceRequirements = Static<typeof ResourceRequirementsSchema>;

export const LabelSelectorSchema = obj(
  {
    matchLabels: map(str(), { description: 'Labels that must all match.' }),
    matchExpressions: arr(
      obj(
        {
          key: str({ description: 'Label key.' }),
          operator: str({ description: 'In, NotIn, Exists or DoesNotExist.' }),
          values: arr(str(), { description: 'Values for In and NotIn.' }),
        },
        ['key', 'operator'],
      ),
      { description: 'Label requirements that must all match.' },
    ),
  },
  [],
  { atomic: true, description: 'A label query over objects.' },
);

const refFields = {
  apiGroup: str({ description: 'API group of the object; empty for the core group.' }),
  kind: str({ description: 'Kind of the object.' }),
  name: str({ description: 'Name of the object.' }),
};
export const TypedLocalObjectReferenceSchema = obj(refFields, ['kind', 'name'], {
  atomic: true,
  description: 'An object in the same namespace to populate the volume from.',
});
export const TypedObjectReferenceSchema = obj(
  { ...refFields, namespace: str({ description: 'Namespace of the object, when it is another one.' }) },
  ['kind', 'name'],
  { description: 'An object (a populator source) to populate the volume from.' },
);

/** core/v1 PersistentVolumeClaimSpec: `spec.pvc` is passed to the claim verbatim. */
export const PersistentVolumeClaimSpecSchema = obj(
  {
    accessModes: arr(str(), { listType: 'atomic', description: 'ReadWriteOnce, ReadOnlyMany, ReadWriteMany or ReadWriteOncePod.' }),
    dataSource: TypedLocalObjectReferenceSchema,
    dataSourceRef: TypedObjectReferenceSchema,
    resources: ResourceRequirementsSchema,
    selector: LabelSelectorSchema,
    storageClassName: str({ description: 'StorageClass of the claim; the default class when absent.' }),
    volumeAttributesClassName: str({ description: 'VolumeAttributesClass of the claim.' }),
    volumeMode: str({ description: 'Filesystem or Block' }),
    volumeName: str({ description: 'Name of the PersistentVolume bound to the claim.' }),
  },
  [],
  { description: 'The storage the claim asks for.' },
);
export type PersistentVolumeClaimSpec = Static<typeof PersistentVolumeClaimSpecSchema>;

export const ConditionStatuses = ['True', 'False', 'Unknown'] as const;

export const LocalObjectReferenceSchema = obj({ name: str() }, [], { atomic: true });

export const ObjectMetaSchema = opaque<{
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  finalizers?: string[];
  creationTimestamp?: string;
  deletionTimestamp?: string;
  generateName?: string;
}>();
export type ObjectMeta = Static<typeof ObjectMetaSchema>;

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export const Int32 = () => int({ format: 'int32' });
export const ConditionStatusSchema = strEnum(ConditionStatuses);
