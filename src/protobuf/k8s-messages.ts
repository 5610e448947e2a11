/**
 * Field tables of the Kubernetes protobuf messages this server decodes: the built-in kinds it
 * serves (Namespace, Secret, ConfigMap, Service, PersistentVolumeClaim, Event, Lease,
 * StorageClass), DeleteOptions, and every message they embed. Field numbers, names and types
 * follow the generated.proto files of k8s.io/api and k8s.io/apimachinery; `pointer` marks the
 * fields that are pointers in the Go types, so a zero value sent for them is kept in JSON while
 * other zero values are dropped, as Go's `omitempty` does.
 *
 * Value types: protobuf scalars, a message name from this table, or one of the messages with a
 * JSON form of their own: time (meta.v1.Time: RFC 3339, whole seconds), microTime
 * (meta.v1.MicroTime: six fractional digits), quantity, intOrString and fieldsV1.
 */
export type Scalar = 'string' | 'bytes' | 'bool' | 'int32' | 'int64' | 'double';
export type Special = 'time' | 'microTime' | 'quantity' | 'intOrString' | 'fieldsV1';

export interface FieldDescriptor {
  name: string;
  shape: 'one' | 'list' | 'map';
  /** A scalar, a special, or the name of a message in this table (checked by k8s-messages.test.ts). */
  type: Scalar | Special | (string & {});
  pointer: boolean;
}

const pointer = true;
const field =
  (shape: FieldDescriptor['shape']) =>
  (name: string, type: FieldDescriptor['type'], isPointer = false): FieldDescriptor => ({ name, shape, type, pointer: isPointer });
const one = field('one');
const list = field('list');
const map = field('map');

export const messages = {
  AggregationRule: {
    1: list('clusterRoleSelectors', 'LabelSelector'),
  },
  BoundObjectReference: {
    1: one('kind', 'string'),
    2: one('apiVersion', 'string'),
    3: one('name', 'string'),
    4: one('uid', 'string'),
  },
  ClusterRole: {
    1: one('metadata', 'ObjectMeta'),
    2: list('rules', 'PolicyRule'),
    3: one('aggregationRule', 'AggregationRule'),
  },
  ClusterRoleBinding: {
    1: one('metadata', 'ObjectMeta'),
    2: list('subjects', 'Subject'),
    3: one('roleRef', 'RoleRef'),
  },
  LocalObjectReference: {
    1: one('name', 'string'),
  },
  NonResourceAttributes: {
    1: one('path', 'string'),
    2: one('verb', 'string'),
  },
  PolicyRule: {
    1: list('verbs', 'string'),
    2: list('apiGroups', 'string'),
    3: list('resources', 'string'),
    4: list('resourceNames', 'string'),
    5: list('nonResourceURLs', 'string'),
  },
  ResourceAttributes: {
    1: one('namespace', 'string'),
    2: one('verb', 'string'),
    3: one('group', 'string'),
    4: one('version', 'string'),
    5: one('resource', 'string'),
    6: one('subresource', 'string'),
    7: one('name', 'string'),
  },
  Role: {
    1: one('metadata', 'ObjectMeta'),
    2: list('rules', 'PolicyRule'),
  },
  RoleBinding: {
    1: one('metadata', 'ObjectMeta'),
    2: list('subjects', 'Subject'),
    3: one('roleRef', 'RoleRef'),
  },
  RoleRef: {
    1: one('apiGroup', 'string'),
    2: one('kind', 'string'),
    3: one('name', 'string'),
  },
  SelfSubjectAccessReview: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'SelfSubjectAccessReviewSpec'),
  },
  SelfSubjectAccessReviewSpec: {
    1: one('resourceAttributes', 'ResourceAttributes'),
    2: one('nonResourceAttributes', 'NonResourceAttributes'),
  },
  SelfSubjectRulesReview: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'SelfSubjectRulesReviewSpec'),
  },
  SelfSubjectRulesReviewSpec: {
    1: one('namespace', 'string'),
  },
  ServiceAccount: {
    1: one('metadata', 'ObjectMeta'),
    2: list('secrets', 'ObjectReference'),
    3: list('imagePullSecrets', 'LocalObjectReference'),
    4: one('automountServiceAccountToken', 'bool', pointer),
  },
  Subject: {
    1: one('kind', 'string'),
    2: one('apiGroup', 'string'),
    3: one('name', 'string'),
    4: one('namespace', 'string'),
  },
  SubjectAccessReview: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'SubjectAccessReviewSpec'),
  },
  SubjectAccessReviewSpec: {
    1: one('resourceAttributes', 'ResourceAttributes'),
    2: one('nonResourceAttributes', 'NonResourceAttributes'),
    3: one('user', 'string'),
    4: list('groups', 'string'),
    6: one('uid', 'string'),
  },
  TokenRequest: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'TokenRequestSpec'),
  },
  TokenRequestSpec: {
    1: list('audiences', 'string'),
    3: one('boundObjectRef', 'BoundObjectReference'),
    4: one('expirationSeconds', 'int64', pointer),
  },
  ClientIPConfig: {
    1: one('timeoutSeconds', 'int32', pointer),
  },
  Condition: {
    1: one('type', 'string'),
    2: one('status', 'string'),
    3: one('observedGeneration', 'int64'),
    4: one('lastTransitionTime', 'time'),
    5: one('reason', 'string'),
    6: one('message', 'string'),
  },
  ConfigMap: {
    1: one('metadata', 'ObjectMeta'),
    2: map('data', 'string'),
    3: map('binaryData', 'bytes'),
    4: one('immutable', 'bool', pointer),
  },
  DeleteOptions: {
    1: one('gracePeriodSeconds', 'int64', pointer),
    2: one('preconditions', 'Preconditions'),
    3: one('orphanDependents', 'bool', pointer),
    4: one('propagationPolicy', 'string', pointer),
    5: list('dryRun', 'string'),
    6: one('ignoreStoreReadErrorWithClusterBreakingPotential', 'bool', pointer),
  },
  Event: {
    1: one('metadata', 'ObjectMeta'),
    2: one('involvedObject', 'ObjectReference'),
    3: one('reason', 'string'),
    4: one('message', 'string'),
    5: one('source', 'EventSource'),
    6: one('firstTimestamp', 'time'),
    7: one('lastTimestamp', 'time'),
    8: one('count', 'int32'),
    9: one('type', 'string'),
    10: one('eventTime', 'microTime'),
    11: one('series', 'EventSeries'),
    12: one('action', 'string'),
    13: one('related', 'ObjectReference'),
    14: one('reportingComponent', 'string'),
    15: one('reportingInstance', 'string'),
  },
  EventSeries: {
    1: one('count', 'int32'),
    2: one('lastObservedTime', 'microTime'),
  },
  EventSource: {
    1: one('component', 'string'),
    2: one('host', 'string'),
  },
  LabelSelector: {
    1: map('matchLabels', 'string'),
    2: list('matchExpressions', 'LabelSelectorRequirement'),
  },
  LabelSelectorRequirement: {
    1: one('key', 'string'),
    2: one('operator', 'string'),
    3: list('values', 'string'),
  },
  Lease: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'LeaseSpec'),
  },
  LeaseSpec: {
    1: one('holderIdentity', 'string', pointer),
    2: one('leaseDurationSeconds', 'int32', pointer),
    3: one('acquireTime', 'microTime'),
    4: one('renewTime', 'microTime'),
    5: one('leaseTransitions', 'int32', pointer),
    6: one('strategy', 'string', pointer),
    7: one('preferredHolder', 'string', pointer),
  },
  LoadBalancerIngress: {
    1: one('ip', 'string'),
    2: one('hostname', 'string'),
    3: one('ipMode', 'string', pointer),
    4: list('ports', 'PortStatus'),
  },
  LoadBalancerStatus: {
    1: list('ingress', 'LoadBalancerIngress'),
  },
  ManagedFieldsEntry: {
    1: one('manager', 'string'),
    2: one('operation', 'string'),
    3: one('apiVersion', 'string'),
    4: one('time', 'time'),
    6: one('fieldsType', 'string'),
    7: one('fieldsV1', 'fieldsV1'),
    8: one('subresource', 'string'),
  },
  ModifyVolumeStatus: {
    1: one('targetVolumeAttributesClassName', 'string'),
    2: one('status', 'string'),
  },
  Namespace: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'NamespaceSpec'),
    3: one('status', 'NamespaceStatus'),
  },
  NamespaceCondition: {
    1: one('type', 'string'),
    2: one('status', 'string'),
    4: one('lastTransitionTime', 'time'),
    5: one('reason', 'string'),
    6: one('message', 'string'),
  },
  NamespaceSpec: {
    1: list('finalizers', 'string'),
  },
  NamespaceStatus: {
    1: one('phase', 'string'),
    2: list('conditions', 'NamespaceCondition'),
  },
  ObjectMeta: {
    1: one('name', 'string'),
    2: one('generateName', 'string'),
    3: one('namespace', 'string'),
    4: one('selfLink', 'string'),
    5: one('uid', 'string'),
    6: one('resourceVersion', 'string'),
    7: one('generation', 'int64'),
    8: one('creationTimestamp', 'time'),
    9: one('deletionTimestamp', 'time'),
    10: one('deletionGracePeriodSeconds', 'int64', pointer),
    11: map('labels', 'string'),
    12: map('annotations', 'string'),
    13: list('ownerReferences', 'OwnerReference'),
    14: list('finalizers', 'string'),
    17: list('managedFields', 'ManagedFieldsEntry'),
  },
  ObjectReference: {
    1: one('kind', 'string'),
    2: one('namespace', 'string'),
    3: one('name', 'string'),
    4: one('uid', 'string'),
    5: one('apiVersion', 'string'),
    6: one('resourceVersion', 'string'),
    7: one('fieldPath', 'string'),
  },
  OwnerReference: {
    1: one('kind', 'string'),
    3: one('name', 'string'),
    4: one('uid', 'string'),
    5: one('apiVersion', 'string'),
    6: one('controller', 'bool', pointer),
    7: one('blockOwnerDeletion', 'bool', pointer),
  },
  PersistentVolumeClaim: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'PersistentVolumeClaimSpec'),
    3: one('status', 'PersistentVolumeClaimStatus'),
  },
  PersistentVolumeClaimCondition: {
    1: one('type', 'string'),
    2: one('status', 'string'),
    3: one('lastProbeTime', 'time'),
    4: one('lastTransitionTime', 'time'),
    5: one('reason', 'string'),
    6: one('message', 'string'),
  },
  PersistentVolumeClaimSpec: {
    1: list('accessModes', 'string'),
    2: one('resources', 'VolumeResourceRequirements'),
    3: one('volumeName', 'string'),
    4: one('selector', 'LabelSelector'),
    5: one('storageClassName', 'string', pointer),
    6: one('volumeMode', 'string', pointer),
    7: one('dataSource', 'TypedLocalObjectReference'),
    8: one('dataSourceRef', 'TypedObjectReference'),
    9: one('volumeAttributesClassName', 'string', pointer),
  },
  PersistentVolumeClaimStatus: {
    1: one('phase', 'string'),
    2: list('accessModes', 'string'),
    3: map('capacity', 'quantity'),
    4: list('conditions', 'PersistentVolumeClaimCondition'),
    5: map('allocatedResources', 'quantity'),
    7: map('allocatedResourceStatuses', 'string'),
    8: one('currentVolumeAttributesClassName', 'string', pointer),
    9: one('modifyVolumeStatus', 'ModifyVolumeStatus'),
    10: one('healthStatus', 'VolumeHealthStatus'),
  },
  PortStatus: {
    1: one('port', 'int32'),
    2: one('protocol', 'string'),
    3: one('error', 'string', pointer),
  },
  Preconditions: {
    1: one('uid', 'string', pointer),
    2: one('resourceVersion', 'string', pointer),
  },
  Secret: {
    1: one('metadata', 'ObjectMeta'),
    2: map('data', 'bytes'),
    3: one('type', 'string'),
    4: map('stringData', 'string'),
    5: one('immutable', 'bool', pointer),
  },
  Service: {
    1: one('metadata', 'ObjectMeta'),
    2: one('spec', 'ServiceSpec'),
    3: one('status', 'ServiceStatus'),
  },
  ServicePort: {
    1: one('name', 'string'),
    2: one('protocol', 'string'),
    3: one('port', 'int32'),
    4: one('targetPort', 'intOrString'),
    5: one('nodePort', 'int32'),
    6: one('appProtocol', 'string', pointer),
  },
  ServiceSpec: {
    1: list('ports', 'ServicePort'),
    2: map('selector', 'string'),
    3: one('clusterIP', 'string'),
    4: one('type', 'string'),
    5: list('externalIPs', 'string'),
    7: one('sessionAffinity', 'string'),
    8: one('loadBalancerIP', 'string'),
    9: list('loadBalancerSourceRanges', 'string'),
    10: one('externalName', 'string'),
    11: one('externalTrafficPolicy', 'string'),
    12: one('healthCheckNodePort', 'int32'),
    13: one('publishNotReadyAddresses', 'bool'),
    14: one('sessionAffinityConfig', 'SessionAffinityConfig'),
    17: one('ipFamilyPolicy', 'string', pointer),
    18: list('clusterIPs', 'string'),
    19: list('ipFamilies', 'string'),
    20: one('allocateLoadBalancerNodePorts', 'bool', pointer),
    21: one('loadBalancerClass', 'string', pointer),
    22: one('internalTrafficPolicy', 'string', pointer),
    23: one('trafficDistribution', 'string', pointer),
  },
  ServiceStatus: {
    1: one('loadBalancer', 'LoadBalancerStatus'),
    2: list('conditions', 'Condition'),
  },
  SessionAffinityConfig: {
    1: one('clientIP', 'ClientIPConfig'),
  },
  StorageClass: {
    1: one('metadata', 'ObjectMeta'),
    2: one('provisioner', 'string'),
    3: map('parameters', 'string'),
    4: one('reclaimPolicy', 'string', pointer),
    5: list('mountOptions', 'string'),
    6: one('allowVolumeExpansion', 'bool', pointer),
    7: one('volumeBindingMode', 'string', pointer),
    8: list('allowedTopologies', 'TopologySelectorTerm'),
  },
  TopologySelectorLabelRequirement: {
    1: one('key', 'string'),
    2: list('values', 'string'),
  },
  TopologySelectorTerm: {
    1: list('matchLabelExpressions', 'TopologySelectorLabelRequirement'),
  },
  TypedLocalObjectReference: {
    1: one('apiGroup', 'string', pointer),
    2: one('kind', 'string'),
    3: one('name', 'string'),
  },
  TypedObjectReference: {
    1: one('apiGroup', 'string', pointer),
    2: one('kind', 'string'),
    3: one('name', 'string'),
    4: one('namespace', 'string', pointer),
  },
  VolumeHealthCondition: {
    1: one('status', 'string'),
    2: one('reason', 'string'),
    3: one('message', 'string'),
  },
  VolumeHealthStatus: {
    1: list('healthConditions', 'VolumeHealthCondition'),
    2: one('lastTransitionTime', 'time'),
  },
  VolumeResourceRequirements: {
    1: map('limits', 'quantity'),
    2: map('requests', 'quantity'),
  },
} satisfies Record<string, Record<number, FieldDescriptor>>;

export type MessageName = keyof typeof messages;

/** The message of each kind whose bodies may come as protobuf, keyed by apiVersion and kind. */
export const protobufKinds: Record<string, MessageName> = {
  'v1/Namespace': 'Namespace',
  'v1/Secret': 'Secret',
  'v1/ConfigMap': 'ConfigMap',
  'v1/Service': 'Service',
  'v1/PersistentVolumeClaim': 'PersistentVolumeClaim',
  'v1/Event': 'Event',
  'coordination.k8s.io/v1/Lease': 'Lease',
  'storage.k8s.io/v1/StorageClass': 'StorageClass',
  'v1/ServiceAccount': 'ServiceAccount',
  'rbac.authorization.k8s.io/v1/Role': 'Role',
  'rbac.authorization.k8s.io/v1/ClusterRole': 'ClusterRole',
  'rbac.authorization.k8s.io/v1/RoleBinding': 'RoleBinding',
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': 'ClusterRoleBinding',
  'authorization.k8s.io/v1/SelfSubjectAccessReview': 'SelfSubjectAccessReview',
  'authorization.k8s.io/v1/SelfSubjectRulesReview': 'SelfSubjectRulesReview',
  'authorization.k8s.io/v1/SubjectAccessReview': 'SubjectAccessReview',
  'authentication.k8s.io/v1/TokenRequest': 'TokenRequest',
};

/** The message of a protobuf body's envelope type: one of those kinds, or DeleteOptions of any group. */
export function protobufMessageFor(apiVersion: string, kind: string): MessageName | undefined {
  if (kind === 'DeleteOptions') return 'DeleteOptions';
  return protobufKinds[`${apiVersion}/${kind}`];
}
