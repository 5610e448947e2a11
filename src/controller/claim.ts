import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { Ann, Label } from '../api/annotations.ts';
import { Reason } from '../api/conditions.ts';
import { filesystemOverheadFor, type CdiConfig } from '../api/cdiconfig.ts';
import { ApiVersion, contentTypeOf, sourceKindOf, type DataVolume } from '../api/datavolume.ts';
import { formatQuantity, parseQuantity } from '../api/quantity.ts';
import { claimPropertiesOf, type StorageProfile } from '../api/storageprofile.ts';
import { defaultStorageClass, requiredSpace } from '../api/claim-sizing.ts';

/**
 * Renders the PersistentVolumeClaim a DataVolume populates, as CDI's DataVolume controller and
 * PVC webhook do: `spec.pvc` verbatim; `spec.storage` completed from the StorageProfile, the
 * default (virt) storage class and, for Filesystem volumes, inflated by the filesystem overhead.
 */
export interface ClaimInputs {
  dv: DataVolume;
  storageClasses: readonly V1StorageClass[];
  profiles: ReadonlyMap<string, StorageProfile>;
  config: CdiConfig | undefined;
  /** The source volume's size, for clones whose target size is omitted. */
  sourceSize?: number;
}

export type ClaimResult = { ok: true; claim: V1PersistentVolumeClaim } | { ok: false; reason: string; message: string };

export function renderClaim(inputs: ClaimInputs): ClaimResult {
  const { dv } = inputs;
  const spec = dv.spec ?? {};
  let claimSpec: NonNullable<V1PersistentVolumeClaim['spec']>;
  if (spec.pvc) {
    claimSpec = structuredClone(spec.pvc) as NonNullable<V1PersistentVolumeClaim['spec']>;
  } else {
    const storage = spec.storage ?? {};
    const className = storage.storageClassName ?? defaultStorageClass(inputs.storageClasses);
    const props = className ? claimPropertiesOf(inputs.profiles.get(className)) : undefined;
    const accessModes = storage.accessModes?.length ? storage.accessModes : (props?.accessModes ?? ['ReadWriteOnce']);
    const volumeMode =
      storage.volumeMode && storage.volumeMode !== 'FromStorageProfile' ? storage.volumeMode : (props?.volumeMode ?? 'Filesystem');
    const requested = parseQuantity(storage.resources?.requests?.storage);
    if (requested === undefined && inputs.sourceSize === undefined) {
      return { ok: false, reason: Reason.ErrClaimNotValid, message: 'the DataVolume names no size and the source size is not known yet' };
    }
    const overhead = Number(filesystemOverheadFor(inputs.config, className));
    // A clone without a size takes the source claim's size as is: it already holds the overhead.
    const size =
      requested === undefined ? (inputs.sourceSize ?? 0) : volumeMode === 'Filesystem' ? requiredSpace(requested, overhead) : requested;
    claimSpec = {
      accessModes,
      volumeMode,
      resources: { requests: { storage: formatQuantity(size) } },
      ...(className ? { storageClassName: className } : {}),
      ...(storage.selector ? { selector: storage.selector as never } : {}),
      ...(storage.volumeName ? { volumeName: storage.volumeName } : {}),
      ...(storage.dataSource ? { dataSource: storage.dataSource } : {}),
      ...(storage.dataSourceRef ? { dataSourceRef: storage.dataSourceRef } : {}),
    };
  }
  const meta = dv.metadata ?? {};
  const labels: Record<string, string> = { ...(meta.labels ?? {}), [Label.app]: Label.appValue };
  if ((claimSpec.volumeMode ?? 'Filesystem') === 'Filesystem') labels['alerts.k8s.io/KubePersistentVolumeFillingUp'] = 'disabled';
  return {
    ok: true,
    claim: {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: meta.name ?? '',
        namespace: meta.namespace ?? 'default',
        labels,
        annotations: { ...(meta.annotations ?? {}), ...claimAnnotations(dv, inputs.config) },
        ownerReferences: [
          { apiVersion: ApiVersion, kind: 'DataVolume', name: meta.name ?? '', uid: meta.uid ?? '', controller: true, blockOwnerDeletion: true },
        ],
      },
      spec: claimSpec,
    },
  };
}

/** The `cdi.kubevirt.io/storage.*` annotations CDI puts on a DataVolume's claim. */
function claimAnnotations(dv: DataVolume, config: CdiConfig | undefined): Record<string, string> {
  const spec = dv.spec ?? {};
  const source = spec.source ?? {};
  const a: Record<string, string> = {
    [Ann.contentType]: contentTypeOf(spec),
    [Ann.createdForDataVolume]: dv.metadata?.uid ?? '',
  };
  const preallocation = spec.preallocation ?? config?.spec?.preallocation ?? false;
  a[Ann.preallocationRequested] = String(preallocation);
  if (spec.priorityClassName) a[Ann.priorityClassName] = spec.priorityClassName;
  if (spec.serviceAccountName) a[Ann.serviceAccountName] = spec.serviceAccountName;
  const kind = sourceKindOf(spec);
  if (source.http) {
    Object.assign(a, { [Ann.importSource]: 'http', [Ann.importEndpoint]: source.http.url });
    if (source.http.secretRef) a[Ann.importSecretName] = source.http.secretRef;
    if (source.http.certConfigMap) a[Ann.importCertConfigMap] = source.http.certConfigMap;
    if (source.http.checksum) a[Ann.importChecksum] = source.http.checksum;
    if (source.http.insecureSkipVerify) a[Ann.importInsecureSkipVerify] = 'true';
    source.http.extraHeaders?.forEach((h, i) => (a[`${Ann.importExtraHeaders}.${i}`] = h));
    source.http.secretExtraHeaders?.forEach((secretName, i) => (a[`${Ann.importSecretExtraHeaders}.${i}`] = secretName));
  } else if (source.s3) {
    Object.assign(a, { [Ann.importSource]: 's3', [Ann.importEndpoint]: source.s3.url });
    if (source.s3.secretRef) a[Ann.importSecretName] = source.s3.secretRef;
    if (source.s3.certConfigMap) a[Ann.importCertConfigMap] = source.s3.certConfigMap;
  } else if (source.registry) {
    Object.assign(a, { [Ann.importSource]: 'registry', [Ann.importEndpoint]: source.registry.url ?? '' });
    if (source.registry.secretRef) a[Ann.importSecretName] = source.registry.secretRef;
    if (source.registry.certConfigMap) a[Ann.importCertConfigMap] = source.registry.certConfigMap;
    if (source.registry.platform?.architecture) a[Ann.registryImageArchitecture] = source.registry.platform.architecture;
    if (source.registry.pullMethod === 'node') a[Ann.registryImportMethod] = 'node';
  } else if (source.blank) {
    a[Ann.importSource] = 'none';
  } else if (source.gcs || source.imageio || source.vddk) {
    a[Ann.importSource] = kind ?? '';
    a[Ann.importEndpoint] = source.gcs?.url ?? source.imageio?.url ?? source.vddk?.url ?? '';
  } else if (source.upload) {
    a[Ann.uploadTarget] = '';
  }
  return a;
}
