import { root } from './builtin-schemas.ts';
import { arr, bool, goType, map, obj, str } from './schema.ts';

/** The ServiceAccount, RBAC and access-review kinds `cdi serve` serves, as Kubernetes 1.32 defines them. */

const strings = (description: string) => arr(str(), { listType: 'atomic', description });

const ObjectReference = goType(
  'v1.ObjectReference',
  obj({ kind: str(), namespace: str(), name: str(), uid: str(), apiVersion: str(), resourceVersion: str(), fieldPath: str() }, [], { atomic: true }),
);

export const ServiceAccountSchema = root('v1.ServiceAccount', 'ServiceAccount binds together a name, a principal that systems can identify and a set of secrets.', {
  automountServiceAccountToken: bool({ description: 'Whether pods running as this service account mount an API token.' }),
  secrets: arr(ObjectReference, { listType: 'map', keys: ['name'], mergeKey: 'name', description: 'Secrets that pods of this service account may use.' }),
  imagePullSecrets: arr(goType('v1.LocalObjectReference', obj({ name: str() }, [], { atomic: true })), { listType: 'atomic', description: 'Secrets for pulling images.' }),
});

const PolicyRule = goType(
  'v1.PolicyRule',
  obj(
    {
      verbs: strings('Verbs the rule allows, or * for all.'),
      apiGroups: strings('API groups of the resources; "" is the core group, * all.'),
      resources: strings('Resources the rule applies to, with subresources as resource/subresource; * for all.'),
      resourceNames: strings('Names the rule is restricted to; empty allows every name.'),
      nonResourceURLs: strings('Non-resource URL paths (only in ClusterRoles bound by ClusterRoleBindings).'),
    },
    ['verbs'],
  ),
);
const rules = arr(PolicyRule, { listType: 'atomic', description: 'The PolicyRules of this role.' });

const LabelSelector = goType(
  'v1.LabelSelector',
  obj(
    {
      matchLabels: map(str()),
      matchExpressions: arr(obj({ key: str(), operator: str(), values: arr(str(), { listType: 'atomic' }) }, ['key', 'operator']), { listType: 'atomic' }),
    },
    [],
    { atomic: true },
  ),
);

export const RoleSchema = root('v1.Role', 'Role is a namespaced, logical grouping of PolicyRules.', { rules });

export const ClusterRoleSchema = root('v1.ClusterRole', 'ClusterRole is a cluster-level, logical grouping of PolicyRules.', {
  rules,
  aggregationRule: goType(
    'v1.AggregationRule',
    obj({ clusterRoleSelectors: arr(LabelSelector, { listType: 'atomic', description: 'ClusterRoles whose rules are aggregated into this one.' }) }),
  ),
});

const Subject = goType(
  'v1.Subject',
  obj({ kind: str({ description: 'User, Group or ServiceAccount.' }), apiGroup: str(), name: str(), namespace: str() }, ['kind', 'name'], { atomic: true }),
);
const RoleRef = goType('v1.RoleRef', obj({ apiGroup: str(), kind: str(), name: str() }, ['apiGroup', 'kind', 'name'], { atomic: true }));
const binding = { subjects: arr(Subject, { listType: 'atomic', description: 'Who the role is granted to.' }), roleRef: RoleRef };

export const RoleBindingSchema = root('v1.RoleBinding', 'RoleBinding grants the permissions of a Role or ClusterRole within a namespace.', binding, ['roleRef']);
export const ClusterRoleBindingSchema = root('v1.ClusterRoleBinding', 'ClusterRoleBinding grants the permissions of a ClusterRole across the cluster.', binding, ['roleRef']);

const ResourceAttributes = goType(
  'v1.ResourceAttributes',
  obj({ namespace: str(), verb: str(), group: str(), version: str(), resource: str(), subresource: str(), name: str() }),
);
const NonResourceAttributes = goType('v1.NonResourceAttributes', obj({ path: str(), verb: str() }));
const accessStatus = goType(
  'v1.SubjectAccessReviewStatus',
  obj({ allowed: bool(), denied: bool(), reason: str(), evaluationError: str() }, ['allowed']),
);

export const SelfSubjectAccessReviewSchema = root('v1.SelfSubjectAccessReview', 'SelfSubjectAccessReview checks whether the current user can perform an action.', {
  spec: goType('v1.SelfSubjectAccessReviewSpec', obj({ resourceAttributes: ResourceAttributes, nonResourceAttributes: NonResourceAttributes })),
  status: accessStatus,
}, ['spec']);

export const SubjectAccessReviewSchema = root('v1.SubjectAccessReview', 'SubjectAccessReview checks whether a user or group can perform an action.', {
  spec: goType(
    'v1.SubjectAccessReviewSpec',
    obj({
      resourceAttributes: ResourceAttributes,
      nonResourceAttributes: NonResourceAttributes,
      user: str(),
      groups: strings('Groups the user is in.'),
      extra: map(arr(str(), { listType: 'atomic' })),
      uid: str(),
    }),
  ),
  status: accessStatus,
}, ['spec']);

export const SelfSubjectRulesReviewSchema = root('v1.SelfSubjectRulesReview', 'SelfSubjectRulesReview lists the actions the current user can perform in a namespace.', {
  spec: goType('v1.SelfSubjectRulesReviewSpec', obj({ namespace: str() })),
  status: goType(
    'v1.SubjectRulesReviewStatus',
    obj({
      resourceRules: arr(obj({ verbs: strings(''), apiGroups: strings(''), resources: strings(''), resourceNames: strings('') }, ['verbs']), { listType: 'atomic' }),
      nonResourceRules: arr(obj({ verbs: strings(''), nonResourceURLs: strings('') }, ['verbs']), { listType: 'atomic' }),
      incomplete: bool(),
      evaluationError: str(),
    }),
  ),
}, ['spec']);
