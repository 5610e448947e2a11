import { isDeepStrictEqual } from 'node:util';
import type { KindInfo, KubeObject } from '../kinds.ts';
import { invalid, type ApiError, type StatusCause } from '../status.ts';

/**
 * kube-apiserver's validation of bindings (ValidateRoleBinding): a roleRef naming a Role or
 * ClusterRole of rbac.authorization.k8s.io, which never changes once created, and subjects of
 * a known kind with a name (ServiceAccounts with no apiGroup; a ClusterRoleBinding's with a namespace).
 */
const group = 'rbac.authorization.k8s.io';

interface Subject {
  kind?: unknown;
  apiGroup?: unknown;
  name?: unknown;
  namespace?: unknown;
}

export function validateBinding(info: KindInfo, obj: KubeObject, old: KubeObject | undefined): ApiError | undefined {
  if (info.kind !== 'RoleBinding' && info.kind !== 'ClusterRoleBinding') return undefined;
  const causes: StatusCause[] = [];
  const roleRef = (obj.roleRef ?? {}) as { apiGroup?: unknown; kind?: unknown; name?: unknown };
  if (old && !isDeepStrictEqual(old.roleRef, obj.roleRef)) causes.push({ field: 'roleRef', message: `Invalid value: ${JSON.stringify(obj.roleRef ?? null)}: cannot change roleRef` });
  if (roleRef.apiGroup !== group) causes.push({ field: 'roleRef.apiGroup', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(roleRef.apiGroup ?? '')}: supported values: "${group}"` });
  const kinds = info.kind === 'RoleBinding' ? ['Role', 'ClusterRole'] : ['ClusterRole'];
  if (!kinds.includes(String(roleRef.kind))) causes.push({ field: 'roleRef.kind', reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(roleRef.kind ?? '')}: supported values: ${kinds.map((k) => `"${k}"`).join(', ')}` });
  if (typeof roleRef.name !== 'string' || roleRef.name === '') causes.push({ field: 'roleRef.name', reason: 'FieldValueRequired', message: 'Required value' });
  ((obj.subjects as Subject[] | undefined) ?? []).forEach((s, i) => {
    const at = `subjects[${i}]`;
    if (typeof s.name !== 'string' || s.name === '') causes.push({ field: `${at}.name`, reason: 'FieldValueRequired', message: 'Required value' });
    if (s.kind === 'ServiceAccount') {
      if (s.apiGroup) causes.push({ field: `${at}.apiGroup`, reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(s.apiGroup)}: supported values: ""` });
      if (info.kind === 'ClusterRoleBinding' && !s.namespace) causes.push({ field: `${at}.namespace`, reason: 'FieldValueRequired', message: 'Required value' });
    } else if (s.kind !== 'User' && s.kind !== 'Group') {
      causes.push({ field: `${at}.kind`, reason: 'FieldValueNotSupported', message: `Unsupported value: ${JSON.stringify(s.kind ?? '')}: supported values: "ServiceAccount", "User", "Group"` });
    }
  });
  return causes.length ? invalid(info, obj.metadata?.name ?? '', causes) : undefined;
}
