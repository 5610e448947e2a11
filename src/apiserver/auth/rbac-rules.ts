/**
 * RBAC's rule matching, as k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac does it: a request is
 * allowed when one rule of one role bound to the user covers its verb, API group, resource (with
 * subresource, `*` and `*\/status` forms) and name, or, for a non-resource request, its path
 * (exact or a `prefix*`).
 */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface RequestAttributes {
  verb: string;
  /** Resource requests: group, resource, subresource, namespace ('' when cluster-scoped), name. */
  resourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** Non-resource requests: the URL path. */
  path: string;
}

const Wildcard = '*';

const verbMatches = (rule: PolicyRule, verb: string): boolean => rule.verbs.includes(Wildcard) || rule.verbs.includes(verb);

const groupMatches = (rule: PolicyRule, group: string): boolean => (rule.apiGroups ?? []).some((g) => g === Wildcard || g === group);

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  return (rule.resources ?? []).some((r) => {
    if (r === Wildcard || r === combined) return true;
    // `*/status` covers every resource's status subresource.
    return subresource !== '' && r === `*/${subresource}`;
  });
}

const nameMatches = (rule: PolicyRule, name: string): boolean => !rule.resourceNames?.length || rule.resourceNames.includes(name);

function pathMatches(rule: PolicyRule, path: string): boolean {
  return (rule.nonResourceURLs ?? []).some((u) => u === Wildcard || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1))));
}

export function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!verbMatches(rule, a.verb)) return false;
  if (!a.resourceRequest) return pathMatches(rule, a.path);
  return groupMatches(rule, a.apiGroup) && resourceMatches(rule, a.resource, a.subresource) && nameMatches(rule, a.name);
}

/**
 * Whether `owned` grant everything `wanted` does (the escalation check of RBAC writes): every
 * verb x group x resource x name (or verb x path) of `wanted` is allowed by some owned rule.
 * A `*` in the wanted rule must be held as `*`.
 */
export function rulesCover(owned: readonly PolicyRule[], wanted: PolicyRule): boolean {
  const names = wanted.resourceNames?.length ? wanted.resourceNames : [''];
  for (const verb of wanted.verbs) {
    if (wanted.nonResourceURLs?.length) {
      for (const path of wanted.nonResourceURLs) {
        const covered = owned.some((r) => verbMatches(r, verb) && (r.nonResourceURLs ?? []).some((u) => u === Wildcard || u === path || (u.endsWith('*') && path.startsWith(u.slice(0, -1)))));
        if (!covered) return false;
      }
      continue;
    }
    for (const group of wanted.apiGroups ?? []) {
      for (const res of wanted.resources ?? []) {
        const [resource, subresource = ''] = res.split('/', 2) as [string, string?];
        for (const name of names) {
          const covered = owned.some(
            (r) =>
              (r.verbs.includes(Wildcard) || (verb !== Wildcard && r.verbs.includes(verb))) &&
              (r.apiGroups ?? []).some((g) => g === Wildcard || g === group) &&
              (r.resources ?? []).some((x) => x === Wildcard || x === res || (subresource !== '' && resource !== Wildcard && x === `*/${subresource}`)) &&
              (!r.resourceNames?.length || (name !== '' && r.resourceNames.includes(name))),
          );
          if (!covered) return false;
        }
      }
    }
  }
  return true;
}

/** A rule in kube-apiserver's escalation message form: {APIGroups:[""], Resources:["secrets"], Verbs:["get"]}. */
export function describeRule(rule: PolicyRule): string {
  const list = (xs: string[] | undefined) => `[${(xs ?? []).map((x) => JSON.stringify(x)).join(' ')}]`;
  const parts: string[] = [];
  if (rule.apiGroups?.length) parts.push(`APIGroups:${list(rule.apiGroups)}`);
  if (rule.resources?.length) parts.push(`Resources:${list(rule.resources)}`);
  if (rule.resourceNames?.length) parts.push(`ResourceNames:${list(rule.resourceNames)}`);
  if (rule.nonResourceURLs?.length) parts.push(`NonResourceURLs:${list(rule.nonResourceURLs)}`);
  parts.push(`Verbs:${list(rule.verbs)}`);
  return `{${parts.join(', ')}}`;
}
