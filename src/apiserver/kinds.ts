/**
 * The kinds this API server serves, one row each. Everything else (discovery, routing, storage
 * keys, table columns) is derived from this table, so adding a kind is adding a row.
 */
export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'date';
  /** A dotted path into the object, or a function for computed cells (pods' READY). */
  path: string | ((obj: KubeObject) => unknown);
  priority?: number;
}

export interface KindInfo {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  /** Subresources beyond the object itself. */
  subresources: Array<'status' | 'log' | 'token'>;
  /** Served as a CRD would be on a cluster: metadata.generation counts its spec changes, no protobuf. */
  customResource: boolean;
  /** Create-only virtual kinds are answered, never stored (UploadTokenRequest). */
  createOnly?: boolean;
  columns: PrinterColumn[];
  categories?: string[];
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  managedFields?: unknown;
  [field: string]: unknown;
}

const age: PrinterColumn = { name: 'Age', type: 'date', path: 'metadata.creationTimestamp' };

function podReady(obj: KubeObject): string {
  const spec = obj.spec as { containers?: unknown[] } | undefined;
  const statuses = (obj.status as { containerStatuses?: Array<{ ready?: boolean }> } | undefined)?.containerStatuses ?? [];
  return `${statuses.filter((s) => s.ready).length}/${spec?.containers?.length ?? 0}`;
}

function podRestarts(obj: KubeObject): number {
  const statuses = (obj.status as { containerStatuses?: Array<{ restartCount?: number }> } | undefined)?.containerStatuses ?? [];
  return statuses.reduce((sum, s) => sum + (s.restartCount ?? 0), 0);
}

function row(
  group: string,
  version: string,
  kind: string,
  plural: string,
  opts: Partial<Omit<KindInfo, 'group' | 'version' | 'kind' | 'plural'>> = {},
): KindInfo {
  return {
    group,
    version,
    kind,
    plural,
    singular: opts.singular ?? kind.toLowerCase(),
    namespaced: opts.namespaced ?? true,
    shortNames: opts.shortNames ?? [],
    subresources: opts.subresources ?? [],
    customResource: !builtinGroups.has(group),
    columns: [...(opts.columns ?? []), age],
    ...(opts.createOnly ? { createOnly: true } : {}),
    ...(opts.categories ? { categories: opts.categories } : {}),
  };
}

const rbacGroup = 'rbac.authorization.k8s.io';

/** API groups kube-apiserver serves itself; every other group here is a CustomResourceDefinition on a cluster. */
const admissionGroup = 'admissionregistration.k8s.io';
const builtinGroups = new Set(['', 'storage.k8s.io', 'coordination.k8s.io', rbacGroup, 'authorization.k8s.io', admissionGroup]);
const cdi = 'cdi.kubevirt.io';
const all = ['all'];

export const kinds: readonly KindInfo[] = [
  row(cdi, 'v1beta1', 'DataVolume', 'datavolumes', {
    shortNames: ['dv', 'dvs'],
    subresources: ['status'],
    categories: all,
    columns: [
      { name: 'Phase', type: 'string', path: 'status.phase' },
      { name: 'Progress', type: 'string', path: 'status.progress' },
      { name: 'Restarts', type: 'integer', path: 'status.restartCount' },
    ],
  }),
  row(cdi, 'v1beta1', 'CDIConfig', 'cdiconfigs', { namespaced: false, subresources: ['status'] }),
  row(cdi, 'v1beta1', 'StorageProfile', 'storageprofiles', { namespaced: false, subresources: ['status'] }),
  row(cdi, 'v1beta1', 'DataSource', 'datasources', { subresources: ['status'], shortNames: ['das'] }),
  row(cdi, 'v1beta1', 'DataImportCron', 'dataimportcrons', { subresources: ['status'], shortNames: ['dic', 'dics'] }),
  row('upload.cdi.kubevirt.io', 'v1beta1', 'UploadTokenRequest', 'uploadtokenrequests', { createOnly: true }),
  row('', 'v1', 'Namespace', 'namespaces', {
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    columns: [{ name: 'Status', type: 'string', path: 'status.phase' }],
  }),
  row('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', {
    shortNames: ['pvc'],
    subresources: ['status'],
    categories: all,
    columns: [
      { name: 'Status', type: 'string', path: 'status.phase' },
      { name: 'Volume', type: 'string', path: 'spec.volumeName' },
      { name: 'Capacity', type: 'string', path: 'status.capacity.storage' },
      { name: 'StorageClass', type: 'string', path: 'spec.storageClassName' },
    ],
  }),
  row('', 'v1', 'Pod', 'pods', {
    shortNames: ['po'],
    subresources: ['status', 'log'],
    categories: all,
    columns: [
      { name: 'Ready', type: 'string', path: podReady },
      { name: 'Status', type: 'string', path: 'status.phase' },
      { name: 'Restarts', type: 'integer', path: podRestarts },
    ],
  }),
  row('', 'v1', 'Service', 'services', {
    shortNames: ['svc'],
    subresources: ['status'],
    categories: all,
    columns: [
      { name: 'Type', type: 'string', path: 'spec.type' },
      { name: 'Cluster-IP', type: 'string', path: 'spec.clusterIP' },
    ],
  }),
  row('', 'v1', 'Secret', 'secrets', { columns: [{ name: 'Type', type: 'string', path: 'type' }] }),
  row('', 'v1', 'ConfigMap', 'configmaps', { shortNames: ['cm'] }),
  row('', 'v1', 'Event', 'events', {
    shortNames: ['ev'],
    columns: [
      { name: 'Type', type: 'string', path: 'type' },
      { name: 'Reason', type: 'string', path: 'reason' },
      { name: 'Message', type: 'string', path: 'message' },
    ],
  }),
  row('storage.k8s.io', 'v1', 'StorageClass', 'storageclasses', {
    namespaced: false,
    shortNames: ['sc'],
    columns: [
      { name: 'Provisioner', type: 'string', path: 'provisioner' },
      { name: 'ReclaimPolicy', type: 'string', path: 'reclaimPolicy' },
      { name: 'VolumeBindingMode', type: 'string', path: 'volumeBindingMode' },
    ],
  }),
  row('coordination.k8s.io', 'v1', 'Lease', 'leases', {
    columns: [{ name: 'Holder', type: 'string', path: 'spec.holderIdentity' }],
  }),
  row('', 'v1', 'ServiceAccount', 'serviceaccounts', { shortNames: ['sa'], subresources: ['token'] }),
  row(rbacGroup, 'v1', 'Role', 'roles'),
  row(rbacGroup, 'v1', 'RoleBinding', 'rolebindings', { columns: [{ name: 'Role', type: 'string', path: (o) => `${readPath(o, 'roleRef.kind')}/${readPath(o, 'roleRef.name')}` }] }),
  row(rbacGroup, 'v1', 'ClusterRole', 'clusterroles', { namespaced: false }),
  row(rbacGroup, 'v1', 'ClusterRoleBinding', 'clusterrolebindings', {
    namespaced: false,
    columns: [{ name: 'Role', type: 'string', path: (o) => `${readPath(o, 'roleRef.kind')}/${readPath(o, 'roleRef.name')}` }],
  }),
  row('authorization.k8s.io', 'v1', 'SelfSubjectAccessReview', 'selfsubjectaccessreviews', { namespaced: false, createOnly: true }),
  row('authorization.k8s.io', 'v1', 'SelfSubjectRulesReview', 'selfsubjectrulesreviews', { namespaced: false, createOnly: true }),
  row('authorization.k8s.io', 'v1', 'SubjectAccessReview', 'subjectaccessreviews', { namespaced: false, createOnly: true }),
  row(admissionGroup, 'v1', 'ValidatingWebhookConfiguration', 'validatingwebhookconfigurations', { namespaced: false, columns: [{ name: 'Webhooks', type: 'integer', path: (o) => (o.webhooks as unknown[] | undefined)?.length ?? 0 }] }),
  row(admissionGroup, 'v1', 'MutatingWebhookConfiguration', 'mutatingwebhookconfigurations', { namespaced: false, columns: [{ name: 'Webhooks', type: 'integer', path: (o) => (o.webhooks as unknown[] | undefined)?.length ?? 0 }] }),
  row('kubevirt.io', 'v1', 'VirtualMachine', 'virtualmachines', {
    shortNames: ['vm', 'vms'],
    subresources: ['status'],
    categories: all,
    columns: [
      { name: 'Status', type: 'string', path: 'status.printableStatus' },
      { name: 'Ready', type: 'string', path: 'status.ready' },
    ],
  }),
  row('kubevirt.io', 'v1', 'VirtualMachineInstance', 'virtualmachineinstances', {
    shortNames: ['vmi', 'vmis'],
    subresources: ['status'],
    categories: all,
    columns: [
      { name: 'Phase', type: 'string', path: 'status.phase' },
      { name: 'IP', type: 'string', path: (o) => readPath(o, 'status.interfaces.0.ipAddress') },
      { name: 'NodeName', type: 'string', path: 'status.nodeName' },
      { name: 'Ready', type: 'string', path: (o) => (o.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions?.find((c) => c.type === 'Ready')?.status ?? '' },
    ],
  }),
];

export function apiVersionOf(info: KindInfo): string {
  return info.group === '' ? info.version : `${info.group}/${info.version}`;
}

/** The storage key of a kind: its group and plural (one served version per group). */
export function resourceKey(info: KindInfo): string {
  return `${info.group}/${info.plural}`;
}

export function findKind(group: string, version: string, plural: string): KindInfo | undefined {
  return kinds.find((k) => k.group === group && k.version === version && k.plural === plural);
}

export function findKindByKind(apiVersion: string, kind: string): KindInfo | undefined {
  return kinds.find((k) => apiVersionOf(k) === apiVersion && k.kind === kind);
}

/** Reads a dotted path (`metadata.name`, `involvedObject.uid`) out of an object. */
export function readPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}
