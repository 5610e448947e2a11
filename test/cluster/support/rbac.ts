import type { ApiRequirement } from './api-calls.ts';

/**
 * RBAC evaluation as the kube-apiserver's RBAC authorizer does it, for one ServiceAccount:
 * which rules reach it through (Cluster)RoleBindings, and whether they allow a request.
 */

export interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

export interface ScopedRule {
  rule: Rule;
  /** 'cluster', or the namespace a Role/RoleBinding grants it in. */
  scope: string;
  source: string;
}

export function rulesFor(objects: K8sObject[], serviceAccount: { name: string; namespace: string }): ScopedRule[] {
  const isSubject = (b: K8sObject) => b.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === serviceAccount.name && s.namespace === serviceAccount.namespace);
  const find = (kind: string, name: string, namespace?: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name && (namespace === undefined || o.metadata.namespace === namespace));
  const out: ScopedRule[] = [];
  for (const binding of objects.filter((o) => (o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding') && isSubject(o))) {
    const ref = binding.roleRef!;
    const role = ref.kind === 'ClusterRole' ? find('ClusterRole', ref.name) : find('Role', ref.name, binding.metadata.namespace);
    if (!role) throw new Error(`${binding.kind} ${binding.metadata.name} refers to missing ${ref.kind} ${ref.name}`);
    const scope = binding.kind === 'ClusterRoleBinding' ? 'cluster' : binding.metadata.namespace!;
    for (const rule of role.rules ?? []) out.push({ rule, scope, source: `${role.kind}/${role.metadata.name}` });
  }
  return out;
}

const matches = (list: string[] | undefined, value: string) => !!list && (list.includes('*') || list.includes(value));

export function ruleAllows(rule: Rule, req: Pick<ApiRequirement, 'group' | 'resource' | 'verb' | 'name'>): boolean {
  if (!matches(rule.apiGroups, req.group) || !matches(rule.resources, req.resource) || !matches(rule.verbs, req.verb)) return false;
  if (!rule.resourceNames || rule.resourceNames.length === 0) return true;
  return req.name !== undefined && rule.resourceNames.includes(req.name);
}

/**
 * Namespaces a request may be granted in: cluster-scoped requests and requests to any namespace
 * need a ClusterRoleBinding; a constant namespace may use a Role there; `ownNamespace` is used
 * for requests made from modules that act in the component's own namespace by construction.
 */
export function allowedBy(rules: ScopedRule[], req: ApiRequirement, ownNamespace: string | undefined): ScopedRule | undefined {
  const scopes = new Set(['cluster']);
  if (req.namespaced && req.namespace) scopes.add(req.namespace);
  if (req.namespaced && !req.namespace && ownNamespace) scopes.add(ownNamespace);
  return rules.find((r) => scopes.has(r.scope) && ruleAllows(r.rule, req));
}
