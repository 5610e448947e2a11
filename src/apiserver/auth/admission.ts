import { authorizeClone, type AccessCheck } from '../../api/clone-authorization.ts';
import type { DataSource } from '../../api/datasource.ts';
import type { DataVolume } from '../../api/datavolume.ts';
import { findKind, type KindInfo, type KubeObject } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import { ApiError } from '../status.ts';
import { checkRbacWrite } from './escalation.ts';
import { resourceAttributes } from './forbidden.ts';
import type { RbacAuthorizer } from './rbac-authorizer.ts';
import type { UserInfo } from './user.ts';

/**
 * The admission steps that depend on who writes: RBAC escalation prevention for roles and
 * bindings, and CDI's clone authorization for DataVolumes (and VirtualMachines' dataVolumeTemplates)
 * created from another namespace's PVC,
 * decided by the same authorizer that serves requests (the in-process equivalent of the
 * SubjectAccessReview that CDI's mutating webhook sends) and refused as that webhook's denial.
 */
export const MutatingWebhookName = 'datavolume-mutate.cdi.kubevirt.io';
export const VirtualMachineWebhookName = 'virtualmachine-validator.kubevirt.io';
const dataSources = findKind('cdi.kubevirt.io', 'v1beta1', 'datasources')!;

export async function admitWrite(
  rbac: RbacAuthorizer,
  service: ObjectService,
  user: UserInfo,
  info: KindInfo,
  namespace: string | undefined,
  obj: KubeObject,
  operation: 'CREATE' | 'UPDATE',
): Promise<void> {
  if (info.group === 'rbac.authorization.k8s.io') return checkRbacWrite(rbac, user, info, namespace ?? '', obj);
  if (operation !== 'CREATE' || typeof obj !== 'object' || obj === null) return;
  const ctx = {
    namespace: namespace ?? '',
    username: user.username,
    canI: (c: AccessCheck) => rbac.authorize(user, resourceAttributes({ verb: c.verb, apiGroup: c.group, resource: c.resource, subresource: c.subresource ?? '', namespace: c.namespace, name: c.name })),
    getDataSource: (ns: string, name: string) => service.find(dataSources, ns, name) as DataSource | undefined,
  };
  const deny = (webhook: string, reason: string, field: string) =>
    new ApiError(403, 'Forbidden', `admission webhook "${webhook}" denied the request:  ${reason}`, {
      name: obj.metadata?.name ?? '',
      group: info.group,
      kind: info.plural,
      causes: [{ reason: 'FieldValueInvalid', message: reason, field }],
    });
  if (info.kind === 'DataVolume') {
    const decision = await authorizeClone(obj as DataVolume, ctx);
    if (!decision.allowed) throw deny(MutatingWebhookName, decision.reason, decision.field);
  } else if (info.kind === 'VirtualMachine') {
    // KubeVirt's VM admitter checks each dataVolumeTemplate for its creator: the DataVolumes the
    // controller later creates with its own credentials must not launder a clone.
    const templates = ((obj.spec as { dataVolumeTemplates?: DataVolume[] } | undefined)?.dataVolumeTemplates ?? []);
    for (const [i, template] of templates.entries()) {
      const decision = await authorizeClone(template, ctx);
      if (!decision.allowed) throw deny(VirtualMachineWebhookName, decision.reason, `spec.dataVolumeTemplates[${i}]`);
    }
  }
}
