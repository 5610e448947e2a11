import { authorizeClone, type AccessCheck } from '../api/clone-authorization.ts';
import type { DataSource } from '../api/datasource.ts';
import type { DataVolume } from '../api/datavolume.ts';
import { validateDataVolume, type ClaimLike } from '../api/validation.ts';
import { allow, fail, isResource, objectOf, refuse, type AdmissionRequest, type AdmissionResponse, type AdmissionUserInfo } from './review.ts';

/**
 * CDI's DataVolume webhooks over an AdmissionReview request: validate (the rules of
 * src/api/validation.ts) and mutate (clone authorization, src/api/clone-authorization.ts).
 * The lookups are the caller's: the API over HTTP in cluster mode, the store in `cdi serve`.
 */
export const DataVolumeResource = { group: 'cdi.kubevirt.io', version: 'v1beta1', resource: 'datavolumes' };
export const ValidatingWebhookName = 'datavolume-validate.cdi.kubevirt.io';
export const MutatingWebhookName = 'datavolume-mutate.cdi.kubevirt.io';

export interface DataVolumeLookups {
  getPvc(namespace: string, name: string): Promise<ClaimLike | undefined>;
}

export interface CloneAccess {
  /** A SubjectAccessReview for `user`. */
  canI(user: AdmissionUserInfo, check: AccessCheck): Promise<boolean>;
  getDataSource(namespace: string, name: string): Promise<DataSource | undefined>;
}

function dataVolumeOf(request: AdmissionRequest): DataVolume | AdmissionResponse {
  if (!isResource(request, DataVolumeResource)) return fail(request, `expect resource to be '${DataVolumeResource.resource}'`);
  const object = objectOf(request);
  if (!object) return fail(request, 'AdmissionReview.request.object is missing');
  if (object.kind !== undefined && object.kind !== 'DataVolume') return fail(request, `expected a DataVolume object, got ${String(object.kind)}`);
  return object as DataVolume;
}

const isResponse = (v: DataVolume | AdmissionResponse): v is AdmissionResponse => 'allowed' in v && 'uid' in v;

export async function validateDataVolumeAdmission(request: AdmissionRequest, lookups: DataVolumeLookups): Promise<AdmissionResponse> {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return allow(request);
  const dv = dataVolumeOf(request);
  if (isResponse(dv)) return dv;
  const old = request.oldObject as DataVolume | undefined;
  if (request.operation === 'UPDATE' && (typeof old !== 'object' || old === null)) return fail(request, 'AdmissionReview.request.oldObject is missing');
  const namespace = dv.metadata?.namespace || request.namespace || 'default';
  const name = dv.metadata?.name || request.name || '';
  // The rules are synchronous: fetch the claims they may ask about first.
  const claims = new Map<string, ClaimLike | undefined>();
  const wanted = [{ namespace, name }, ...(dv.spec?.source?.pvc?.name ? [{ namespace: dv.spec.source.pvc.namespace || namespace, name: dv.spec.source.pvc.name }] : [])];
  try {
    if (request.operation === 'CREATE') for (const c of wanted) if (c.name) claims.set(`${c.namespace}/${c.name}`, await lookups.getPvc(c.namespace, c.name));
  } catch (err) {
    return fail(request, (err as Error).message);
  }
  const causes = validateDataVolume(
    { ...dv, metadata: { ...dv.metadata, namespace, name } },
    { operation: request.operation, ...(old ? { oldObject: old } : {}), getPvc: (ns, n) => claims.get(`${ns}/${n}`) },
  );
  return causes.length > 0 ? refuse(request, causes) : allow(request);
}

export async function mutateDataVolumeAdmission(request: AdmissionRequest, access: CloneAccess): Promise<AdmissionResponse> {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return allow(request);
  const dv = dataVolumeOf(request);
  if (isResponse(dv)) return dv;
  if (dv.metadata?.deletionTimestamp) return allow(request);
  const namespace = request.namespace || dv.metadata?.namespace || 'default';
  const ref = dv.spec?.sourceRef;
  const dataSources = new Map<string, DataSource | undefined>();
  try {
    if (ref?.kind === 'DataSource' && ref.name) dataSources.set(`${ref.namespace || namespace}/${ref.name}`, await access.getDataSource(ref.namespace || namespace, ref.name));
    const decision = await authorizeClone(dv, {
      namespace,
      username: request.userInfo.username,
      canI: (check) => access.canI(request.userInfo, check),
      getDataSource: (ns, name) => dataSources.get(`${ns}/${name}`),
    });
    if (!decision.allowed) return refuse(request, [{ reason: 'FieldValueInvalid', message: decision.reason, field: decision.field }]);
  } catch (err) {
    return fail(request, (err as Error).message);
  }
  return allow(request);
}
