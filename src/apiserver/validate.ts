import type { DataSource } from '../api/datasource.ts';
import type { DataVolume } from '../api/datavolume.ts';
import { admissionDeniedMessage, validateDataVolume, type ClaimLike } from '../api/validation.ts';
import { findKind, type KindInfo, type KubeObject } from './kinds.ts';
import { ApiError } from './status.ts';

/**
 * Admission: the one seam where kind-specific rules plug in. DataVolumes go through CDI's
 * validating webhook rules (src/api/validation.ts, shared with the CRDs) and are refused the way
 * kube-apiserver renders a webhook denial: 422 with `admission webhook "…" denied the request: …`.
 */
export type Lookup = (info: KindInfo, namespace: string, name: string) => KubeObject | undefined;
export type Validator = (info: KindInfo, obj: KubeObject, old: KubeObject | undefined, lookup: Lookup) => ApiError | undefined;

const pvcs = findKind('', 'v1', 'persistentvolumeclaims')!;
const dataSources = findKind('cdi.kubevirt.io', 'v1beta1', 'datasources')!;

export const defaultValidator: Validator = (info, obj, old, lookup) => {
  if (info.kind !== 'DataVolume') return undefined;
  const causes = validateDataVolume(obj as DataVolume, {
    operation: old ? 'UPDATE' : 'CREATE',
    ...(old ? { oldObject: old as DataVolume } : {}),
    getPvc: (ns, name) => lookup(pvcs, ns, name) as ClaimLike | undefined,
    getDataSource: (ns, name) => lookup(dataSources, ns, name) as DataSource | undefined,
  });
  if (causes.length === 0) return undefined;
  return new ApiError(422, 'Invalid', admissionDeniedMessage(causes), {
    name: obj.metadata?.name ?? '',
    group: info.group,
    kind: info.plural,
    causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
  });
};
