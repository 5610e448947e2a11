import type { DataVolume } from '../api/datavolume.ts';
import { admissionDeniedMessage, validateDataVolume, WebhookName, type ClaimLike } from '../api/validation.ts';
import { parseQuantity } from '../api/quantity.ts';
import { validateBinding } from './auth/rbac-validation.ts';
import { validateWebhookConfiguration } from './webhooks/config.ts';
import { findKind, type KindInfo, type KubeObject } from './kinds.ts';
import { ApiError, invalid } from './status.ts';

/**
 * Admission: the one seam where kind-specific rules plug in. DataVolumes go through CDI's
 * validating webhook rules (src/api/validation.ts, shared with the CRDs) and are refused the way
 * kube-apiserver renders a webhook denial: 422 with `admission webhook "…" denied the request: …`.
 */
export type Lookup = (info: KindInfo, namespace: string, name: string) => KubeObject | undefined;
export type Validator = (info: KindInfo, obj: KubeObject, old: KubeObject | undefined, lookup: Lookup) => ApiError | undefined;

const pvcs = findKind('', 'v1', 'persistentvolumeclaims')!;

/** ValidatePersistentVolumeClaimSpec's rule on the requested size: a positive quantity. */
function claimSizeInvalid(info: KindInfo, obj: KubeObject): ApiError | undefined {
  const storage = (obj.spec as { resources?: { requests?: { storage?: unknown } } } | undefined)?.resources?.requests?.storage;
  if (typeof storage !== 'string' && typeof storage !== 'number') return undefined;
  const bytes = parseQuantity(storage);
  if (bytes === undefined || bytes > 0) return undefined;
  return invalid(info, obj.metadata?.name ?? '', [
    { field: 'spec.resources.requests[storage]', message: `Invalid value: ${JSON.stringify(String(storage))}: must be greater than zero` },
  ]);
}

export const defaultValidator: Validator = (info, obj, old, lookup) => validateUnlessReplaced(info, obj, old, lookup, () => false);

/**
 * The validator with CDI's DataVolume rules left to a registered webhook of the same name when
 * there is one (the cluster-mode cdi-apiserver registered with `cdi serve`), as on a cluster.
 */
export const validatorDeferringTo = (registered: (webhook: string) => boolean): Validator => (info, obj, old, lookup) =>
  validateUnlessReplaced(info, obj, old, lookup, registered);

function validateUnlessReplaced(info: KindInfo, obj: KubeObject, old: KubeObject | undefined, lookup: Lookup, registered: (webhook: string) => boolean): ApiError | undefined {
  if (info.kind === 'PersistentVolumeClaim') return claimSizeInvalid(info, obj);
  if (info.group === 'rbac.authorization.k8s.io') return validateBinding(info, obj, old);
  if (info.group === 'admissionregistration.k8s.io') {
    const causes = validateWebhookConfiguration(info.kind === 'MutatingWebhookConfiguration' ? 'mutating' : 'validating', obj as { webhooks?: unknown });
    return causes.length ? invalid(info, obj.metadata?.name ?? '', causes) : undefined;
  }
  if (info.kind !== 'DataVolume' || registered(WebhookName)) return undefined;
  const causes = validateDataVolume(obj as DataVolume, {
    operation: old ? 'UPDATE' : 'CREATE',
    ...(old ? { oldObject: old as DataVolume } : {}),
    getPvc: (ns, name) => lookup(pvcs, ns, name) as ClaimLike | undefined,
  });
  if (causes.length === 0) return undefined;
  return new ApiError(422, 'Invalid', admissionDeniedMessage(causes), {
    name: obj.metadata?.name ?? '',
    group: info.group,
    kind: info.plural,
    causes: causes.map((c) => ({ reason: c.reason, message: c.message, field: c.field })),
  });
}
