import { findKind, resourceKey, type KubeObject } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import type { ChangeEvent } from '../watch-hub.ts';
import { ruleAllows, type PolicyRule, type RequestAttributes } from './rbac-rules.ts';
import { Masters, serviceAccountUsername, type UserInfo } from './user.ts';

/**
 * The RBAC authorizer over the stored Roles, ClusterRoles and their bindings. It keeps them in
 * memory, loaded once and then kept current from the watch stream, so a request costs a walk
 * over the bindings of its namespace and the cluster, not a query. Members of system:masters
 * are allowed everything, as kube-apiserver's superuser group.
 */
export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
}

export interface Binding {
  namespace: string;
  subjects?: Subject[];
  roleRef: { kind: string; name: string };
}

export const rbacKinds = {
  roles: findKind('rbac.authorization.k8s.io', 'v1', 'roles')!,
  clusterRoles: findKind('rbac.authorization.k8s.io', 'v1', 'clusterroles')!,
  roleBindings: findKind('rbac.authorization.k8s.io', 'v1', 'rolebindings')!,
  clusterRoleBindings: findKind('rbac.authorization.k8s.io', 'v1', 'clusterrolebindings')!,
};

const keys = {
  roles: resourceKey(rbacKinds.roles),
  clusterRoles: resourceKey(rbacKinds.clusterRoles),
  roleBindings: resourceKey(rbacKinds.roleBindings),
  clusterRoleBindings: resourceKey(rbacKinds.clusterRoleBindings),
};

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return s.name === user.username;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount':
      return serviceAccountUsername(s.namespace || bindingNamespace, s.name) === user.username;
    default:
      return false;
  }
}

const rulesOf = (obj: KubeObject | undefined): PolicyRule[] => (obj?.rules as PolicyRule[] | undefined) ?? [];

export class RbacAuthorizer {
  private readonly roles = new Map<string, KubeObject>();
  readonly clusterRoles = new Map<string, KubeObject>();
  private readonly roleBindings = new Map<string, Map<string, Binding>>();
  private readonly clusterRoleBindings = new Map<string, Binding>();
  private readonly unsubscribe: () => void;

  constructor(service: ObjectService) {
    for (const key of Object.values(keys)) for (const row of service.store.list({ resource: key })) this.apply(key, 'ADDED', row.namespace, row.name, JSON.parse(row.json) as KubeObject);
    this.unsubscribe = service.hub.subscribe((e: ChangeEvent) => {
      if (Object.values(keys).includes(e.resource)) this.apply(e.resource, e.type, e.namespace, e.name, e.object ?? (JSON.parse(e.json) as KubeObject));
    });
  }

  close(): void {
    this.unsubscribe();
  }

  private apply(resource: string, type: ChangeEvent['type'], namespace: string, name: string, obj: KubeObject): void {
    const gone = type === 'DELETED';
    if (resource === keys.roles) {
      if (gone) this.roles.delete(`${namespace}/${name}`);
      else this.roles.set(`${namespace}/${name}`, obj);
    } else if (resource === keys.clusterRoles) {
      if (gone) this.clusterRoles.delete(name);
      else this.clusterRoles.set(name, obj);
    } else if (resource === keys.clusterRoleBindings) {
      if (gone) this.clusterRoleBindings.delete(name);
      else this.clusterRoleBindings.set(name, { ...(obj as unknown as Binding), namespace: '' });
    } else {
      let inNs = this.roleBindings.get(namespace);
      if (gone) inNs?.delete(name);
      else {
        if (!inNs) this.roleBindings.set(namespace, (inNs = new Map()));
        inNs.set(name, { ...(obj as unknown as Binding), namespace });
      }
    }
  }

  private roleRules(b: Binding): PolicyRule[] {
    if (b.roleRef?.kind === 'ClusterRole') return rulesOf(this.clusterRoles.get(b.roleRef.name));
    if (b.roleRef?.kind === 'Role') return rulesOf(this.roles.get(`${b.namespace}/${b.roleRef.name}`));
    return [];
  }

  /** Each rule that applies to the user in a namespace ('' for cluster scope), ClusterRoleBindings first. */
  private *applicableRules(user: UserInfo, namespace: string): Generator<PolicyRule> {
    for (const b of this.clusterRoleBindings.values()) if (b.subjects?.some((s) => subjectMatches(s, user, ''))) yield* this.roleRules(b);
    if (!namespace) return;
    for (const b of this.roleBindings.get(namespace)?.values() ?? []) if (b.subjects?.some((s) => subjectMatches(s, user, namespace))) yield* this.roleRules(b);
  }

  authorize(user: UserInfo, attrs: RequestAttributes): boolean {
    if (user.groups.includes(Masters)) return true;
    for (const rule of this.applicableRules(user, attrs.resourceRequest ? attrs.namespace : '')) if (ruleAllows(rule, attrs)) return true;
    return false;
  }

  /** The user's rules in a namespace (SelfSubjectRulesReview, the escalation check); masters hold `*`. */
  rulesFor(user: UserInfo, namespace: string): PolicyRule[] {
    if (user.groups.includes(Masters)) return [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, { verbs: ['*'], nonResourceURLs: ['*'] }];
    return [...this.applicableRules(user, namespace)];
  }

  /** The rules a RoleBinding or ClusterRoleBinding would grant (for the bind escalation check). */
  rulesOfRoleRef(roleRef: { kind?: unknown; name?: unknown }, namespace: string): PolicyRule[] | undefined {
    if (roleRef.kind === 'ClusterRole') return this.clusterRoles.has(String(roleRef.name)) ? rulesOf(this.clusterRoles.get(String(roleRef.name))) : undefined;
    if (roleRef.kind === 'Role') return this.roles.has(`${namespace}/${String(roleRef.name)}`) ? rulesOf(this.roles.get(`${namespace}/${String(roleRef.name)}`)) : undefined;
    return undefined;
  }
}
