import { authorizeClone } from '../../api/clone-authorization.ts';
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
 * bindings, and CDI's clone authorization for DataVolumes created from another namespace's PVC,
 * decided by the same authorizer that serves requests (the in-process equivalent of the
 * SubjectAccessReview that CDI's mutating webhook sends) and refused as that webhook's denial.
 */
export const MutatingWebhookName = 'datavolume-mutate.cdi.kubevirt.io';
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
  if (info.kind !== 'DataVolume' || operation !== 'CREATE' || typeof obj !== 'object' || obj === null) return;
  const decision = await authorizeClone(obj as DataVolume, {
    namespace: namespace ?? '',
    username: user.username,
    canI: (c) => rbac.authorize(user, resourceAttributes({ verb: c.verb, apiGroup: c.group, resource: c.resource, subresource: c.subresource ?? '', namespace: c.namespace, name: c.name })),
    getDataSource: (ns, name) => service.find(dataSources, ns, name) as DataSource | undefined,
  });
  if (decision.allowed) return;
  throw new ApiError(403, 'Forbidden', `admission webhook "${MutatingWebhookName}" denied the request:  ${decision.reason}`, {
    name: obj.metadata?.name ?? '',
    group: info.group,
    kind: info.plural,
    causes: [{ reason: 'FieldValueInvalid', message: decision.reason, field: decision.field }],
  });
}
