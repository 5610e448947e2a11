import type { KindInfo, KubeObject } from '../kinds.ts';
import { ApiError } from '../status.ts';
import { resourceAttributes } from './forbidden.ts';
import type { RbacAuthorizer } from './rbac-authorizer.ts';
import { describeRule, rulesCover, type PolicyRule } from './rbac-rules.ts';
import type { UserInfo } from './user.ts';

/**
 * RBAC's privilege-escalation prevention on writes of roles and bindings, as kube-apiserver's
 * rbac REST storage does it: a Role or ClusterRole may only grant what its author already holds
 * (where it applies), unless the author may `escalate` it; a binding may only bind a role whose
 * permissions its author holds, unless the author may `bind` that role.
 */
const group = 'rbac.authorization.k8s.io';

function refusal(info: KindInfo, name: string, user: UserInfo, detail: string): ApiError {
  const groups = user.groups.map((g) => JSON.stringify(g)).join(' ');
  return new ApiError(403, 'Forbidden', `${info.plural}.${group} "${name}" is forbidden: user "${user.username}" (groups=[${groups}]) is attempting to grant RBAC permissions not currently held:\n${detail}`, {
    name,
    group,
    kind: info.plural,
  });
}

export function checkRbacWrite(rbac: RbacAuthorizer, user: UserInfo, info: KindInfo, namespace: string, obj: KubeObject): void {
  const name = obj.metadata?.name ?? '';
  const scope = info.namespaced ? namespace : '';
  if (info.kind === 'Role' || info.kind === 'ClusterRole') {
    if (rbac.authorize(user, resourceAttributes({ verb: 'escalate', apiGroup: group, resource: info.plural, namespace: scope, name }))) return;
    const owned = rbac.rulesFor(user, scope);
    const missing = ((obj.rules as PolicyRule[] | undefined) ?? []).filter((r) => !rulesCover(owned, r));
    if (missing.length) throw refusal(info, name, user, missing.map(describeRule).join('\n'));
    return;
  }
  if (info.kind !== 'RoleBinding' && info.kind !== 'ClusterRoleBinding') return;
  const roleRef = (obj.roleRef ?? {}) as { kind?: unknown; name?: unknown };
  const rolePlural = roleRef.kind === 'Role' ? 'roles' : 'clusterroles';
  if (rbac.authorize(user, resourceAttributes({ verb: 'bind', apiGroup: group, resource: rolePlural, namespace: scope, name: String(roleRef.name ?? '') }))) return;
  const granted = rbac.rulesOfRoleRef(roleRef, scope);
  if (!granted) throw refusal(info, name, user, `${String(roleRef.kind)} "${String(roleRef.name)}" not found`);
  const owned = rbac.rulesFor(user, scope);
  const missing = granted.filter((r) => !rulesCover(owned, r));
  if (missing.length) throw refusal(info, name, user, missing.map(describeRule).join('\n'));
}
