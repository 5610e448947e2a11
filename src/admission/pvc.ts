import { filesystemOverheadFor, type CdiConfig } from '../api/cdiconfig.ts';
import { formatQuantity, parseQuantity } from '../api/quantity.ts';
import { claimPropertiesOf, type StorageProfile } from '../api/storageprofile.ts';
import { requiredSpace } from '../api/claim-sizing.ts';
import { allow, fail, isResource, objectOf, patchTo, type AdmissionRequest, type AdmissionResponse } from './review.ts';

/**
 * CDI's PVC mutating webhook (`pvc-mutate`): a claim created with the label
 * `cdi.kubevirt.io/applyStorageProfile: "true"` gets the storage class (the default one when it
 * names none), access modes and volume mode of that class's StorageProfile where it leaves them
 * out, and a Filesystem claim's size grows by the class's filesystem overhead, as CDI renders
 * the claims of `storage` DataVolumes.
 */
export const PvcResource = { group: '', version: 'v1', resource: 'persistentvolumeclaims' };
export const PvcMutatingWebhookName = 'pvc-mutate.cdi.kubevirt.io';
export const ApplyStorageProfileLabel = 'cdi.kubevirt.io/applyStorageProfile';

export interface ProfileLookups {
  getStorageProfile(name: string): Promise<StorageProfile | undefined>;
  defaultStorageClass(): Promise<string | undefined>;
  getConfig(): Promise<CdiConfig | undefined>;
}

interface Claim {
  metadata?: { labels?: Record<string, string> };
  spec?: { storageClassName?: string; accessModes?: string[]; volumeMode?: string; resources?: { requests?: Record<string, string | number> } };
}

export async function mutatePvcAdmission(request: AdmissionRequest, lookups: ProfileLookups): Promise<AdmissionResponse> {
  if (request.operation !== 'CREATE') return allow(request);
  if (!isResource(request, PvcResource)) return fail(request, `expect resource to be '${PvcResource.resource}'`);
  const pvc = objectOf(request) as Claim | undefined;
  if (!pvc) return fail(request, 'AdmissionReview.request.object is missing');
  if (pvc.metadata?.labels?.[ApplyStorageProfileLabel] !== 'true') return allow(request);
  try {
    const rendered = structuredClone(pvc);
    const spec = (rendered.spec ??= {});
    const className = spec.storageClassName ?? (await lookups.defaultStorageClass());
    const props = className ? claimPropertiesOf(await lookups.getStorageProfile(className)) : undefined;
    if (className && spec.storageClassName === undefined) spec.storageClassName = className;
    if (!spec.accessModes?.length) {
      if (!props?.accessModes?.length) return fail(request, `no accessMode specified in StorageProfile ${className ?? '(no storage class)'}`);
      spec.accessModes = [...props.accessModes];
    }
    if (!spec.volumeMode || spec.volumeMode === 'FromStorageProfile') spec.volumeMode = props?.volumeMode ?? 'Filesystem';
    const requested = parseQuantity(spec.resources?.requests?.storage);
    if (spec.volumeMode === 'Filesystem' && requested !== undefined) {
      const overhead = Number(filesystemOverheadFor(await lookups.getConfig(), className));
      spec.resources = { ...spec.resources, requests: { ...spec.resources?.requests, storage: formatQuantity(requiredSpace(requested, overhead)) } };
    }
    return patchTo(request, pvc, rendered);
  } catch (err) {
    return fail(request, (err as Error).message);
  }
}
