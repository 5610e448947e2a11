import {
  Int32,
  ObjectMetaSchema,
  PersistentVolumeClaimSpecSchema,
  ResourceRequirementsSchema,
  LabelSelectorSchema,
  TypedLocalObjectReferenceSchema,
  TypedObjectReferenceSchema,
  ConditionStatusSchema,
} from './core-schemas.ts';
import { DataVolumePhases } from './phases.ts';
import { arr, bool, obj, str, strEnum, type Static } from './schema.ts';

/** cdi.kubevirt.io/v1beta1 DataVolume: every spec field of upstream's `types.go`. */
export const Group = 'cdi.kubevirt.io';
export const Version = 'v1beta1';
export const ApiVersion = `${Group}/${Version}`;

const secretRef = () => str({ description: 'Secret with keys accessKeyId and secretKey' });
const certConfigMap = () => str({ description: 'ConfigMap with the CA certificates to trust' });

export const SourceHttpSchema = obj(
  {
    url: str(),
    secretRef: secretRef(),
    certConfigMap: certConfigMap(),
    extraHeaders: arr(str(), { description: 'Header lines "Name: value"' }),
    secretExtraHeaders: arr(str(), { description: 'Secrets whose every value is one header line' }),
    checksum: str({ description: '<md5|sha1|sha256|sha512>:<hex> of the bytes as downloaded' }),
    insecureSkipVerify: bool(),
  },
  ['url'],
);

export const SourceS3Schema = obj({ url: str(), secretRef: secretRef(), certConfigMap: certConfigMap() }, ['url']);
export const SourceGcsSchema = obj({ url: str(), secretRef: str() }, ['url']);
export const SourceRegistrySchema = obj({
  url: str({ description: 'docker://host[:port]/repo[:tag|@digest] or oci-archive:…' }),
  imageStream: str(),
  pullMethod: strEnum(['pod', 'node']),
  secretRef: secretRef(),
  certConfigMap: certConfigMap(),
  platform: obj({ architecture: str() }),
});
export const SourcePvcSchema = obj({ namespace: str(), name: str() }, ['namespace', 'name']);
export const SourceSnapshotSchema = obj({ namespace: str(), name: str() }, ['namespace', 'name']);
export const SourceImageioSchema = obj(
  { url: str(), diskId: str(), secretRef: str(), certConfigMap: str(), insecureSkipVerify: bool() },
  ['url', 'diskId'],
);
export const SourceVddkSchema = obj({
  url: str(),
  uuid: str(),
  backingFile: str(),
  thumbprint: str(),
  secretRef: str(),
  certConfigMap: str(),
  initImageURL: str(),
  extraArgs: str(),
});
const EmptySchema = obj({});

export const DataVolumeSourceSchema = obj({
  http: SourceHttpSchema,
  s3: SourceS3Schema,
  gcs: SourceGcsSchema,
  registry: SourceRegistrySchema,
  pvc: SourcePvcSchema,
  snapshot: SourceSnapshotSchema,
  upload: EmptySchema,
  blank: EmptySchema,
  imageio: SourceImageioSchema,
  vddk: SourceVddkSchema,
});
export type DataVolumeSource = Static<typeof DataVolumeSourceSchema>;
export type SourceKind = keyof DataVolumeSource;
export const SourceKinds = Object.keys(DataVolumeSourceSchema.properties ?? {}) as SourceKind[];

/** `spec.storage`: like a PVC spec, but CDI fills the gaps (StorageProfile, size, overhead). */
export const StorageSpecSchema = obj({
  accessModes: arr(str(), { listType: 'atomic' }),
  selector: LabelSelectorSchema,
  resources: ResourceRequirementsSchema,
  volumeName: str(),
  storageClassName: str(),
  volumeMode: str({ description: 'Filesystem, Block or FromStorageProfile' }),
  dataSource: TypedLocalObjectReferenceSchema,
  dataSourceRef: TypedObjectReferenceSchema,
});
export type StorageSpec = Static<typeof StorageSpecSchema>;

export const ContentTypes = ['kubevirt', 'archive'] as const;
export type ContentType = (typeof ContentTypes)[number];

export const DataVolumeSpecSchema = obj({
  source: DataVolumeSourceSchema,
  sourceRef: obj({ kind: str(), namespace: str(), name: str() }, ['kind', 'name']),
  pvc: PersistentVolumeClaimSpecSchema,
  storage: StorageSpecSchema,
  priorityClassName: str(),
  serviceAccountName: str(),
  // The enum is the webhook's job (CDI's message "ContentType not one of: …"), so the schema keeps it a string.
  contentType: str({ description: 'kubevirt (default) or archive' }),
  checkpoints: arr(obj({ previous: str(), current: str() }, ['previous', 'current'])),
  finalCheckpoint: bool(),
  preallocation: bool(),
});
export type DataVolumeSpec = Static<typeof DataVolumeSpecSchema>;

export const DataVolumeConditionSchema = obj(
  {
    type: str(),
    status: ConditionStatusSchema,
    lastTransitionTime: str({ format: 'date-time' }),
    lastHeartbeatTime: str({ format: 'date-time' }),
    reason: str(),
    message: str(),
  },
  ['type', 'status'],
);

export const DataVolumeStatusSchema = obj({
  claimName: str(),
  phase: strEnum(DataVolumePhases),
  progress: str({ description: '"NN.NN%", "N/A" or "100.0%"' }),
  restartCount: Int32(),
  conditions: arr(DataVolumeConditionSchema),
});
export type DataVolumeStatus = Static<typeof DataVolumeStatusSchema>;

export const DataVolumeSchema = obj(
  {
    apiVersion: str(),
    kind: str(),
    metadata: ObjectMetaSchema,
    spec: DataVolumeSpecSchema,
    status: DataVolumeStatusSchema,
  },
  ['spec'],
);
export type DataVolume = Static<typeof DataVolumeSchema>;

/** Which source a spec names (the first set one); undefined when none. */
export function sourceKindOf(spec: DataVolumeSpec): SourceKind | undefined {
  const source = spec.source;
  if (!source) return undefined;
  return SourceKinds.find((k) => source[k] !== undefined && source[k] !== null);
}

export function contentTypeOf(spec: DataVolumeSpec): ContentType {
  return spec.contentType === 'archive' ? 'archive' : 'kubevirt';
}
