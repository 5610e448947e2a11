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
    url: str({ description: 'URL of the image: http or https, optionally compressed (gz, xz, zst) or a tar archive.' }),
    secretRef: secretRef(),
    certConfigMap: certConfigMap(),
    extraHeaders: arr(str(), { description: 'Header lines "Name: value"' }),
    secretExtraHeaders: arr(str(), { description: 'Secrets whose every value is one header line' }),
    checksum: str({ description: '<md5|sha1|sha256|sha512>:<hex> of the bytes as downloaded' }),
    insecureSkipVerify: bool({ description: 'Skip verification of the server certificate (https only).' }),
  },
  ['url'],
  { description: 'Import from an http or https URL.' },
);

export const SourceS3Schema = obj(
  { url: str({ description: 'URL of the object: s3://bucket/key or an S3-compatible endpoint URL.' }), secretRef: secretRef(), certConfigMap: certConfigMap() },
  ['url'],
  { description: 'Import from an S3 object.' },
);
export const SourceGcsSchema = obj(
  { url: str({ description: 'gs://bucket/object, or the object\'s https URL.' }), secretRef: str({ description: 'Secret with the service account key (creds-key.json).' }) },
  ['url'],
  { description: 'Import from a Google Cloud Storage object.' },
);
export const SourceRegistrySchema = obj(
  {
    url: str({ description: 'docker://host[:port]/repo[:tag|@digest] or oci-archive:…' }),
    imageStream: str({ description: 'Name of an OpenShift ImageStream (node pull method only).' }),
    pullMethod: strEnum(['pod', 'node'], { description: 'pod (default): the importer pulls; node: the node pulls the image.' }),
    secretRef: secretRef(),
    certConfigMap: certConfigMap(),
    platform: obj({ architecture: str({ description: 'Architecture to pick from a multi-platform image.' }) }),
  },
  [],
  { description: 'Import the disk of a container image (a file under /disk) from a registry.' },
);
export const SourcePvcSchema = obj(
  { namespace: str({ description: 'Namespace of the claim to clone.' }), name: str({ description: 'Name of the claim to clone.' }) },
  ['namespace', 'name'],
  { description: 'Clone an existing PersistentVolumeClaim.' },
);
export const SourceSnapshotSchema = obj(
  { namespace: str({ description: 'Namespace of the snapshot.' }), name: str({ description: 'Name of the VolumeSnapshot.' }) },
  ['namespace', 'name'],
  { description: 'Restore from a VolumeSnapshot.' },
);
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

export const DataVolumeSourceSchema = obj(
  {
    http: SourceHttpSchema,
    s3: SourceS3Schema,
    gcs: SourceGcsSchema,
    registry: SourceRegistrySchema,
    pvc: SourcePvcSchema,
    snapshot: SourceSnapshotSchema,
    upload: { ...EmptySchema, description: 'Wait for an upload through the upload proxy (virtctl image-upload, cdi upload).' },
    blank: { ...EmptySchema, description: 'Create an empty raw disk image.' },
    imageio: { ...SourceImageioSchema, description: 'Import a disk from oVirt through imageio.' },
    vddk: { ...SourceVddkSchema, description: 'Import a disk from VMware through VDDK.' },
  },
  [],
  { description: 'Where the data comes from: exactly one source.' },
);
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

export const ContentTypes = ['kubevirt', 'archive'] as const;
export type ContentType = (typeof ContentTypes)[number];

export const DataVolumeSpecSchema = obj({
  source: DataVolumeSourceSchema,
  sourceRef: obj(
    { kind: str({ description: 'DataSource' }), namespace: str({ description: "The DataSource's namespace; the DataVolume's by default." }), name: str() },
    ['kind', 'name'],
    { description: 'Take the source from a DataSource instead of spec.source.' },
  ),
  pvc: { ...PersistentVolumeClaimSpecSchema, description: 'The claim to create, passed to the PersistentVolumeClaim as given.' },
  storage: { ...StorageSpecSchema, description: 'The claim to create, with gaps (class, access modes, volume mode, size overhead) filled by CDI.' },
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
