import { mutateDataVolumeAdmission, MutatingWebhookName } from '../../admission/datavolume.ts';
import { mutatePvcAdmission, PvcMutatingWebhookName } from '../../admission/pvc.ts';
import type { AdmissionRequest, AdmissionResponse, Operation } from '../../admission/review.ts';
import { CdiConfigName, type CdiConfig } from '../../api/cdiconfig.ts';
import { authorizeClone, type AccessCheck } from '../../api/clone-authorization.ts';
import type { DataSource } from '../../api/datasource.ts';
import type { DataVolume } from '../../api/datavolume.ts';
import type { StorageProfile } from '../../api/storageprofile.ts';
import { defaultStorageClass } from '../../api/claim-sizing.ts';
import { findKind, type KindInfo, type KubeObject } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import { jsonPatch, type Json } from '../patch.ts';
import { webhookDenied, webhookKinds, type WebhookDispatcher } from '../webhooks/dispatch.ts';
import { checkRbacWrite } from './escalation.ts';
import { resourceAttributes } from './forbidden.ts';
import type { RbacAuthorizer } from './rbac-authorizer.ts';
import type { UserInfo } from './user.ts';

/**
 * Admission of a write in `cdi serve`, in kube-apiserver's order: RBAC escalation prevention for
 * roles and bindings; CDI's own mutating webhooks run in-process through the same handlers the
 * cluster-mode cdi-apiserver serves (src/admission: clone authorization decided by this server's
 * authorizer instead of a SubjectAccessReview, PVC rendering from StorageProfiles), and KubeVirt's
 * clone check of a VirtualMachine's dataVolumeTemplates; then the registered mutating webhooks.
 * Their refusals read as kube-apiserver renders a webhook's denial. CDI's validating rules run
 * in the store's validator (src/apiserver/validate.ts) on the final object. A registered webhook
 * with the name of one of CDI's replaces the in-process one, so the rules run once, where the
 * configuration says (the cluster-mode cdi-apiserver registered with cdi serve).
 */
export const VirtualMachineWebhookName = 'virtualmachine-validator.kubevirt.io';
const kinds = {
  dataSources: findKind('cdi.kubevirt.io', 'v1beta1', 'datasources')!,
  storageProfiles: findKind('cdi.kubevirt.io', 'v1beta1', 'storageprofiles')!,
  storageClasses: findKind('storage.k8s.io', 'v1', 'storageclasses')!,
  cdiConfigs: findKind('cdi.kubevirt.io', 'v1beta1', 'cdiconfigs')!,
};

export interface AdmissionContext {
  rbac: RbacAuthorizer;
  service: ObjectService;
  webhooks: WebhookDispatcher;
}

export interface WriteRequest {
  user: UserInfo;
  info: KindInfo;
  namespace: string | undefined;
  name: string;
  subresource: string;
  operation: Operation;
  dryRun: boolean;
}

function inProcessRequest(w: WriteRequest, obj: KubeObject): AdmissionRequest {
  return {
    uid: '',
    kind: { group: w.info.group, version: w.info.version, kind: w.info.kind },
    resource: { group: w.info.group, version: w.info.version, resource: w.info.plural },
    name: w.name,
    ...(w.namespace ? { namespace: w.namespace } : {}),
    operation: w.operation,
    userInfo: { username: w.user.username, groups: w.user.groups },
    object: obj,
  };
}

function patched(webhook: string, obj: KubeObject, response: AdmissionResponse): KubeObject {
  if (!response.allowed) throw webhookDenied(webhook, response.status);
  if (!response.patch) return obj;
  return jsonPatch(obj as Json, JSON.parse(Buffer.from(response.patch, 'base64').toString()) as Json) as KubeObject;
}

/** CDI's and KubeVirt's mutating admission done in-process, for a create or update. */
async function builtinMutations(ctx: AdmissionContext, w: WriteRequest, obj: KubeObject): Promise<KubeObject> {
  if (w.subresource) return obj;
  const { service, rbac } = ctx;
  const canI = async (_user: unknown, c: AccessCheck) =>
    rbac.authorize(w.user, resourceAttributes({ verb: c.verb, apiGroup: c.group, resource: c.resource, subresource: c.subresource ?? '', namespace: c.namespace, name: c.name }));
  const getDataSource = (ns: string, name: string) => service.find(kinds.dataSources, ns, name) as DataSource | undefined;
  if (w.info.kind === 'DataVolume' && w.operation === 'CREATE' && !ctx.webhooks.registered(MutatingWebhookName)) {
    return patched(MutatingWebhookName, obj, await mutateDataVolumeAdmission(inProcessRequest(w, obj), { canI, getDataSource: async (ns, name) => getDataSource(ns, name) }));
  }
  if (w.info.kind === 'PersistentVolumeClaim' && w.operation === 'CREATE' && !ctx.webhooks.registered(PvcMutatingWebhookName)) {
    const response = await mutatePvcAdmission(inProcessRequest(w, obj), {
      getStorageProfile: async (name) => service.find(kinds.storageProfiles, undefined, name) as StorageProfile | undefined,
      defaultStorageClass: async () => defaultStorageClass(service.list(kinds.storageClasses, undefined).items as never),
      getConfig: async () => service.find(kinds.cdiConfigs, undefined, CdiConfigName) as CdiConfig | undefined,
    });
    return patched(PvcMutatingWebhookName, obj, response);
  }
  if (w.info.kind === 'VirtualMachine' && w.operation === 'CREATE') {
    // KubeVirt's VM admitter checks each dataVolumeTemplate for its creator: the DataVolumes the
    // controller later creates with its own credentials must not launder a clone.
    const templates = (obj.spec as { dataVolumeTemplates?: DataVolume[] } | undefined)?.dataVolumeTemplates ?? [];
    for (const [i, template] of templates.entries()) {
      const decision = await authorizeClone(template, { namespace: w.namespace ?? '', username: w.user.username, canI: (c) => canI(undefined, c), getDataSource });
      if (!decision.allowed) {
        throw webhookDenied(VirtualMachineWebhookName, { code: 422, message: ` ${decision.reason}`, details: { causes: [{ reason: 'FieldValueInvalid', message: decision.reason, field: `spec.dataVolumeTemplates[${i}]` }] } });
      }
    }
  }
  return obj;
}

const isWebhookConfiguration = (info: KindInfo) => info === webhookKinds.validating || info === webhookKinds.mutating;

/** The object to write after mutating admission (RBAC writes are checked, never changed). */
export async function admitWrite(ctx: AdmissionContext, w: WriteRequest, obj: KubeObject, old: KubeObject | undefined): Promise<KubeObject> {
  if (w.info.group === 'rbac.authorization.k8s.io') await checkRbacWrite(ctx.rbac, w.user, w.info, w.namespace ?? '', obj);
  if (typeof obj !== 'object' || obj === null) return obj;
  const mutated = await builtinMutations(ctx, w, obj);
  // As kube-apiserver, webhooks never see webhook configurations, so a broken one can be fixed.
  if (isWebhookConfiguration(w.info)) return mutated;
  return (await ctx.webhooks.mutate(dispatchAttributes(w), mutated, old)) ?? mutated;
}

/** Validating admission of the final object (and of a delete, with the object being deleted). */
export async function validateWrite(ctx: AdmissionContext, w: WriteRequest, obj: KubeObject | undefined, old: KubeObject | undefined): Promise<void> {
  if (isWebhookConfiguration(w.info)) return;
  await ctx.webhooks.validate(dispatchAttributes(w), obj, old);
}

/** A delete goes to the matching webhooks with the object being deleted as oldObject. */
export async function admitDelete(ctx: AdmissionContext, w: WriteRequest, current: KubeObject): Promise<void> {
  if (isWebhookConfiguration(w.info)) return;
  await ctx.webhooks.mutate(dispatchAttributes(w), undefined, current);
  await ctx.webhooks.validate(dispatchAttributes(w), undefined, current);
}

const dispatchAttributes = (w: WriteRequest) => ({ info: w.info, operation: w.operation, namespace: w.namespace ?? '', name: w.name, subresource: w.subresource, user: w.user, dryRun: w.dryRun });
