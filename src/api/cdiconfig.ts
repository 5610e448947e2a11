import { LocalObjectReferenceSchema, ObjectMetaSchema, ResourceRequirementsSchema } from './core-schemas.ts';
import { arr, bool, int, map, obj, opaque, str, type Static } from './schema.ts';

/** cdi.kubevirt.io/v1beta1 CDIConfig (cluster-scoped singleton named `config`). */
export const CdiConfigName = 'config';
export const DefaultFilesystemOverhead = '0.06';
/** Worker restarts tolerated before a DataVolume goes Failed when CDIConfig does not say. */
export const DefaultWorkerRetryBudget = 5;

const ImportProxySchema = obj({
  HTTPProxy: str(),
  HTTPSProxy: str(),
  noProxy: str(),
  trustedCAProxy: str(),
});

const FilesystemOverheadSchema = obj({
  global: str({ description: 'fraction in [0, 1), e.g. "0.06"' }),
  storageClass: map(str()),
});

export const CdiConfigSpecSchema = obj({
  uploadProxyURLOverride: str(),
  importProxy: ImportProxySchema,
  scratchSpaceStorageClass: str(),
  podResourceRequirements: ResourceRequirementsSchema,
  featureGates: arr(str()),
  filesystemOverhead: FilesystemOverheadSchema,
  preallocation: bool(),
  insecureRegistries: arr(str()),
  dataVolumeTTLSeconds: int({ format: 'int32', description: 'Deprecated upstream; accepted and ignored' }),
  tlsSecurityProfile: opaque(),
  imagePullSecrets: arr(LocalObjectReferenceSchema),
  logVerbosity: int({ format: 'int32' }),
  webhookPvcRendering: str(),
  workerRetryBudget: int({
    format: 'int32',
    minimum: 0,
    description:
      'Not in upstream CDI: worker pod restarts tolerated before the DataVolume goes Failed with the last error (default 5)',
  }),
});

export const CdiConfigStatusSchema = obj({
  uploadProxyURL: str(),
  uploadProxyCA: str(),
  importProxy: ImportProxySchema,
  scratchSpaceStorageClass: str(),
  defaultPodResourceRequirements: ResourceRequirementsSchema,
  filesystemOverhead: FilesystemOverheadSchema,
  preallocation: bool(),
  imagePullSecrets: arr(LocalObjectReferenceSchema),
});

export const CdiConfigSchema = obj({
  apiVersion: str(),
  kind: str(),
  metadata: ObjectMetaSchema,
  spec: CdiConfigSpecSchema,
  status: CdiConfigStatusSchema,
});
export type CdiConfig = Static<typeof CdiConfigSchema>;

/** The filesystem overhead that applies to a storage class (CDI: per-class, then global, then 0.06). */
export function filesystemOverheadFor(config: CdiConfig | undefined, storageClass: string | undefined): string {
  const fo = config?.status?.filesystemOverhead ?? config?.spec?.filesystemOverhead;
  const perClass = storageClass ? fo?.storageClass?.[storageClass] : undefined;
  return perClass ?? fo?.global ?? DefaultFilesystemOverhead;
}

export function workerRetryBudgetOf(config: CdiConfig | undefined, fallback = DefaultWorkerRetryBudget): number {
  const n = config?.spec?.workerRetryBudget;
  return typeof n === 'number' && n >= 0 ? n : fallback;
}
