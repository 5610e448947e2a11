import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import { rbacKinds } from './rbac-authorizer.ts';
import type { PolicyRule } from './rbac-rules.ts';
import { Authenticated, Masters } from './user.ts';

/**
 * The ClusterRoles and ClusterRoleBindings a fresh cluster has (kube-apiserver's bootstrap
 * policy, narrowed to the resources served here), KubeVirt's user roles for VirtualMachines,
 * and CDI's user ClusterRoles, read from the
 * same manifest cluster mode deploys (docker/deploy/user-rbac.yaml). Created when missing.
 */
const AutoUpdate = { 'rbac.authorization.kubernetes.io/autoupdate': 'true' };
const Bootstrap = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };
const aggregateTo = (role: string) => ({ [`rbac.authorization.k8s.io/aggregate-to-${role}`]: 'true' });

const read = ['get', 'list', 'watch'];
const write = ['create', 'delete', 'deletecollection', 'patch', 'update'];

function clusterRole(name: string, rules: PolicyRule[], labels: Record<string, string> = {}, aggregateFrom?: string): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name, labels: { ...Bootstrap, ...labels }, annotations: AutoUpdate },
    ...(aggregateFrom ? { aggregationRule: { clusterRoleSelectors: [{ matchLabels: aggregateTo(aggregateFrom) }] } } : {}),
    rules,
  };
}

function clusterRoleBinding(name: string, role: string, groups: string[]): KubeObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: Bootstrap, annotations: AutoUpdate },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: groups.map((g) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: g })),
  };
}

const core = (verbs: string[], resources: string[]): PolicyRule => ({ verbs, apiGroups: [''], resources });

const bootstrapRoles: KubeObject[] = [
  clusterRole('cluster-admin', [
    { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
    { verbs: ['*'], nonResourceURLs: ['*'] },
  ]),
  clusterRole('system:discovery', [
    { verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'] },
  ]),
  clusterRole('system:public-info-viewer', [{ verbs: ['get'], nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'] }]),
  clusterRole('system:basic-user', [{ verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] }]),
  clusterRole('admin', [], {}, 'admin'),
  clusterRole('edit', [], aggregateTo('admin'), 'edit'),
  clusterRole('view', [], aggregateTo('edit'), 'view'),
  clusterRole(
    'system:aggregate-to-admin',
    [
      { verbs: [...read, ...write], apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings', 'roles'] },
      { verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'] },
    ],
    aggregateTo('admin'),
  ),
  clusterRole(
    'system:aggregate-to-edit',
    [
      core([...read, ...write], ['pods', 'persistentvolumeclaims', 'configmaps', 'secrets', 'services', 'serviceaccounts']),
      core(['create'], ['serviceaccounts/token']),
      { verbs: [...read, ...write], apiGroups: ['coordination.k8s.io'], resources: ['leases'] },
    ],
    aggregateTo('edit'),
  ),
  clusterRole(
    'system:aggregate-to-view',
    [core(read, ['configmaps', 'events', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'pods', 'pods/log', 'pods/status', 'serviceaccounts', 'services', 'services/status', 'namespaces', 'namespaces/status'])],
    aggregateTo('view'),
  ),
  // KubeVirt's user roles, for the VirtualMachines served here (KubeVirt installs them on a cluster).
  clusterRole(
    'kubevirt.io:edit',
    [
      { verbs: [...read, ...write], apiGroups: ['kubevirt.io'], resources: ['virtualmachines', 'virtualmachineinstances'] },
      { verbs: ['update'], apiGroups: ['subresources.kubevirt.io'], resources: ['virtualmachines/start', 'virtualmachines/stop', 'virtualmachines/restart'] },
    ],
    { ...aggregateTo('admin'), ...aggregateTo('edit') },
  ),
  clusterRole('kubevirt.io:view', [{ verbs: read, apiGroups: ['kubevirt.io'], resources: ['virtualmachines', 'virtualmachines/status', 'virtualmachineinstances', 'virtualmachineinstances/status'] }], aggregateTo('view')),
];

const bootstrapBindings: KubeObject[] = [
  clusterRoleBinding('cluster-admin', 'cluster-admin', [Masters]),
  clusterRoleBinding('system:discovery', 'system:discovery', [Authenticated]),
  clusterRoleBinding('system:basic-user', 'system:basic-user', [Authenticated]),
  clusterRoleBinding('system:public-info-viewer', 'system:public-info-viewer', [Authenticated, 'system:unauthenticated']),
];

const userRbacManifest = path.resolve(import.meta.dirname, '../../../docker/deploy/user-rbac.yaml');

/** CDI's user ClusterRoles as cluster mode installs them. */
export function cdiUserClusterRoles(): KubeObject[] {
  const docs = parseAllDocuments(readFileSync(userRbacManifest, 'utf8'));
  return docs.map((d) => d.toJSON() as KubeObject).filter((o) => o?.kind === 'ClusterRole');
}

export function seedRbacDefaults(service: ObjectService): void {
  for (const role of [...bootstrapRoles, ...cdiUserClusterRoles()]) {
    if (!service.find(rbacKinds.clusterRoles, undefined, role.metadata!.name!)) service.create(rbacKinds.clusterRoles, undefined, structuredClone(role));
  }
  for (const binding of bootstrapBindings) {
    if (!service.find(rbacKinds.clusterRoleBindings, undefined, binding.metadata!.name!)) service.create(rbacKinds.clusterRoleBindings, undefined, structuredClone(binding));
  }
}
