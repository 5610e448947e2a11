import { arr, int, map, obj, opaque, quantity, str, strEnum, type Static } from './schema.ts';

/** The core/v1 pieces the cdi.kubevirt.io kinds embed, as structural schemas. */

export const AccessModes = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] as const;
export type AccessMode = (typeof AccessModes)[number];

export const ResourceRequirementsSchema = obj({
  limits: map(quantity()),
  requests: map(quantity()),
});
export type ResourceRequirements = Static<typeof ResourceRequirementsSchema>;

export const LabelSelectorSchema = obj(
  {
    matchLabels: map(str()),
    matchExpressions: arr(obj({ key: str(), operator: str(), values: arr(str()) }, ['key', 'operator'])),
  },
  [],
  { atomic: true },
);

export const TypedLocalObjectReferenceSchema = obj({ apiGroup: str(), kind: str(), name: str() }, ['kind', 'name'], {
  atomic: true,
});
export const TypedObjectReferenceSchema = obj(
  { apiGroup: str(), kind: str(), name: str(), namespace: str() },
  ['kind', 'name'],
);

/** core/v1 PersistentVolumeClaimSpec: `spec.pvc` is passed to the claim verbatim. */
export const PersistentVolumeClaimSpecSchema = obj({
  accessModes: arr(str(), { listType: 'atomic' }),
  dataSource: TypedLocalObjectReferenceSchema,
  dataSourceRef: TypedObjectReferenceSchema,
  resources: ResourceRequirementsSchema,
  selector: LabelSelectorSchema,
  storageClassName: str(),
  volumeAttributesClassName: str(),
  volumeMode: str({ description: 'Filesystem or Block' }),
  volumeName: str(),
});
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
