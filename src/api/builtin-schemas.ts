import { ConditionStatusSchema, Int32, LabelSelectorSchema, PersistentVolumeClaimSpecSchema, ResourceRequirementsSchema, TypedLocalObjectReferenceSchema, TypedObjectReferenceSchema } from './core-schemas.ts';
import { PodSpecSchema, PodStatusSchema } from './pod-schema.ts';
import { arr, bool, goType, int, map, named, obj, opaque, quantity, str, type JsonSchema } from './schema.ts';

/**
 * Structural schemas of the non-CRD kinds the embedded API server serves, as Kubernetes 1.32
 * defines them: what requests are checked against and what /openapi publishes. The root of each
 * is the kind's Go struct, so decode errors name it as kube-apiserver does (`PodSpec.spec…`).
 */
const Int64 = () => int({ format: 'int64' });
const time = (description: string) => str({ format: 'date-time', description });
const microTime = (description: string) => str({ format: 'date-time', description: `${description} (microsecond precision).` });

const ManagedFieldsEntry = goType(
  'v1.ManagedFieldsEntry',
  obj({
    manager: str({ description: 'The workflow that manages these fields.' }),
    operation: str({ description: 'Apply or Update: the operation that set these fields.' }),
    apiVersion: str(),
    time: time('When these fields were last set.'),
    fieldsType: str({ description: 'The format of fieldsV1: only FieldsV1.' }),
    fieldsV1: opaque({ description: 'The set of fields managed, in the FieldsV1 trie format.' }),
    subresource: str(),
  }),
);

export const OwnerReferenceSchema = goType(
  'v1.OwnerReference',
  obj(
    {
      apiVersion: str({ description: 'API version of the referent.' }),
      kind: str({ description: 'Kind of the referent.' }),
      name: str({ description: 'Name of the referent.' }),
      uid: str({ description: 'UID of the referent.' }),
      controller: bool({ description: 'True when the referent is the managing controller.' }),
      blockOwnerDeletion: bool({ description: 'When true, the owner is not removed before this object in a foreground deletion.' }),
    },
    ['apiVersion', 'kind', 'name', 'uid'],
    { atomic: true },
  ),
);

/** metav1.ObjectMeta, published for clients (kubectl validates and explains it); checked by metadata.ts. */
export const ObjectMetaFullSchema = goType(
  'v1.ObjectMeta',
  obj(
    {
      name: str({ description: 'Name, unique in the namespace (or cluster) for the kind.' }),
      generateName: str({ description: 'Prefix of a server-generated name, used when name is empty.' }),
      namespace: str({ description: 'Namespace of a namespaced object; "default" when empty.' }),
      selfLink: str({ description: 'Deprecated, never set.' }),
      uid: str({ description: 'Unique id the server assigns on create.' }),
      resourceVersion: str({ description: 'Opaque version of this object, for optimistic concurrency and watches.' }),
      generation: Int64(),
      creationTimestamp: time('When the server created the object.'),
      deletionTimestamp: time('When the object is to be deleted; set by the server when deletion is requested.'),
      deletionGracePeriodSeconds: Int64(),
      labels: map(str(), { description: 'Labels: string keys and values to select objects by.' }),
      annotations: map(str(), { description: 'Annotations: string keys and values that tools store with the object.' }),
      ownerReferences: arr(OwnerReferenceSchema, { listType: 'map', keys: ['uid'], mergeKey: 'uid', description: 'Objects this one depends on; when all are gone it is garbage collected.' }),
      finalizers: arr(str(), { listType: 'set', patchStrategy: 'merge', description: 'Tokens that must be removed before the object is deleted.' }),
      managedFields: arr(ManagedFieldsEntry, { listType: 'atomic', description: 'Which manager owns which fields (server-side apply).' }),
    },
    [],
    { description: 'Standard object metadata.' },
  ),
);

const apiVersion = () => str({ description: 'The versioned schema of this representation of an object.' });
const kind = () => str({ description: 'The REST resource this object represents, in CamelCase.' });

/** An object root: apiVersion, kind, metadata, then the kind's own fields. */
export function root(go: string, description: string, fields: Record<string, JsonSchema>, required: string[] = []): JsonSchema {
  const schema: JsonSchema = obj({ apiVersion: apiVersion(), kind: kind(), metadata: ObjectMetaFullSchema, ...fields });
  return goType(go, { ...schema, ...(required.length ? { required } : {}), description });
}

const condition = (go: string, extra: Record<string, JsonSchema> = {}) =>
  goType(
    go,
    obj(
      {
        type: str({ description: 'Type of the condition.' }),
        status: ConditionStatusSchema,
        lastProbeTime: time('Last time the condition was probed.'),
        lastTransitionTime: time('Last time the condition changed status.'),
        reason: str({ description: 'Machine-readable reason of the last transition.' }),
        message: str({ description: 'Human-readable details of the last transition.' }),
        ...extra,
      },
      ['type', 'status'],
    ),
  );

export const NamespaceSchema = root('v1.Namespace', 'Namespace provides a scope for names.', {
  spec: goType('v1.NamespaceSpec', obj({ finalizers: arr(named('v1.FinalizerName'), { listType: 'atomic', description: 'Must be empty before the namespace is removed.' }) })),
  status: goType(
    'v1.NamespaceStatus',
    obj({
      phase: named('v1.NamespacePhase', 'Active or Terminating.'),
      conditions: arr(condition('v1.NamespaceCondition'), { listType: 'map', keys: ['type'], mergeKey: 'type' }),
    }),
  ),
});

goType('v1.PersistentVolumeClaimSpec', PersistentVolumeClaimSpecSchema);
goType('v1.PersistentVolumeAccessMode', PersistentVolumeClaimSpecSchema.properties!.accessModes!.items!);
goType('v1.PersistentVolumeMode', PersistentVolumeClaimSpecSchema.properties!.volumeMode!);
goType('v1.VolumeResourceRequirements', PersistentVolumeClaimSpecSchema.properties!.resources!);
goType('v1.ResourceList', ResourceRequirementsSchema.properties!.limits!);
goType('v1.ResourceList', ResourceRequirementsSchema.properties!.requests!);
goType('v1.TypedLocalObjectReference', TypedLocalObjectReferenceSchema);
goType('v1.TypedObjectReference', TypedObjectReferenceSchema);
goType('v1.LabelSelector', LabelSelectorSchema);

export const PersistentVolumeClaimSchema = root('v1.PersistentVolumeClaim', "PersistentVolumeClaim is a user's request for and claim to a persistent volume.", {
  spec: PersistentVolumeClaimSpecSchema,
  status: goType(
    'v1.PersistentVolumeClaimStatus',
    obj({
      phase: named('v1.PersistentVolumeClaimPhase', 'Pending, Bound or Lost.'),
      accessModes: arr(str(), { listType: 'atomic', description: 'The access modes the volume backing the claim has.' }),
      capacity: map(quantity(), { description: 'The resources of the volume backing the claim.' }),
      conditions: arr(condition('v1.PersistentVolumeClaimCondition'), { listType: 'map', keys: ['type'], mergeKey: 'type' }),
      allocatedResources: map(quantity()),
      allocatedResourceStatuses: map(str(), { description: 'Resize status per resource.' }),
      currentVolumeAttributesClassName: str(),
      modifyVolumeStatus: goType('v1.ModifyVolumeStatus', obj({ targetVolumeAttributesClassName: str(), status: str() }, ['status'])),
    }),
  ),
});

export const PodSchema = root('v1.Pod', 'Pod is a collection of containers that run on a node.', { spec: PodSpecSchema, status: PodStatusSchema });

const ServicePort = goType(
  'v1.ServicePort',
  obj(
    {
      name: str({ description: 'Name of the port, unique in the service.' }),
      protocol: named('v1.Protocol', 'TCP, UDP or SCTP; TCP by default.'),
      appProtocol: str({ description: 'Application protocol of the port (a hint for implementations).' }),
      port: int({ format: 'int32', description: 'Port the service exposes.' }),
      targetPort: goType('intstr.IntOrString', { 'x-kubernetes-int-or-string': true as const, description: 'Port number or name on the pods.' }),
      nodePort: int({ format: 'int32', description: 'Port on every node, for NodePort and LoadBalancer services.' }),
    },
    ['port'],
  ),
);

export const ServiceSchema = root('v1.Service', 'Service is a named abstraction of a software service: a port and the pods behind it.', {
  spec: goType(
    'v1.ServiceSpec',
    obj({
      ports: arr(ServicePort, { listType: 'map', keys: ['port', 'protocol'], mergeKey: 'port', description: 'The ports the service exposes.' }),
      selector: map(str(), { description: 'Pods with these labels back the service.' }),
      clusterIP: str({ description: 'IP of the service; None for a headless service.' }),
      clusterIPs: arr(str(), { listType: 'atomic', description: 'IPs of the service, one per IP family.' }),
      type: named('v1.ServiceType', 'ClusterIP, NodePort, LoadBalancer or ExternalName.'),
      externalIPs: arr(str(), { listType: 'atomic', description: 'Further IPs that route to the service.' }),
      sessionAffinity: str({ description: 'ClientIP or None.' }),
      loadBalancerIP: str({ description: 'Deprecated: IP asked of the load balancer.' }),
      loadBalancerSourceRanges: arr(str(), { listType: 'atomic', description: 'Client CIDRs the load balancer admits.' }),
      externalName: str({ description: 'DNS name an ExternalName service aliases.' }),
      externalTrafficPolicy: str({ description: 'Cluster or Local: how external traffic is routed.' }),
      healthCheckNodePort: int({ format: 'int32', description: 'Health check port for Local external traffic.' }),
      publishNotReadyAddresses: bool({ description: 'Publish endpoints of pods that are not ready.' }),
      sessionAffinityConfig: goType(
        'v1.SessionAffinityConfig',
        obj({ clientIP: goType('v1.ClientIPConfig', obj({ timeoutSeconds: Int32() })) }),
      ),
      ipFamilies: arr(str(), { listType: 'atomic', description: 'IPv4 and/or IPv6.' }),
      ipFamilyPolicy: str({ description: 'SingleStack, PreferDualStack or RequireDualStack.' }),
      allocateLoadBalancerNodePorts: bool({ description: 'Allocate node ports for a LoadBalancer service; true by default.' }),
      loadBalancerClass: str({ description: 'Load balancer implementation.' }),
      internalTrafficPolicy: str({ description: 'Cluster or Local: how in-cluster traffic is routed.' }),
      trafficDistribution: str({ description: 'Preference for how traffic is spread (PreferClose).' }),
    }, [], { description: 'The behaviour of the service.' }),
  ),
  status: goType(
    'v1.ServiceStatus',
    obj({
      loadBalancer: goType(
        'v1.LoadBalancerStatus',
        obj({
          ingress: arr(
            goType(
              'v1.LoadBalancerIngress',
              obj({ ip: str(), hostname: str(), ipMode: str(), ports: arr(goType('v1.PortStatus', obj({ port: Int32(), protocol: str(), error: str() }, ['port', 'protocol'])), { listType: 'atomic' }) }),
            ),
            { listType: 'atomic' },
          ),
        }),
      ),
      conditions: arr(
        goType(
          'v1.Condition',
          obj(
            { type: str(), status: ConditionStatusSchema, observedGeneration: Int64(), lastTransitionTime: time('When the condition last changed.'), reason: str(), message: str() },
            ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
          ),
        ),
        { listType: 'map', keys: ['type'], mergeKey: 'type' },
      ),
    }),
  ),
});

export const SecretSchema = root('v1.Secret', 'Secret holds secret data of a certain type.', {
  immutable: bool({ description: 'When true, data cannot be changed after creation.' }),
  data: goType('map[string][]uint8', map(str({ format: 'byte' }), { description: 'The secret data: each value base64 encoded.' })),
  stringData: map(str(), { description: 'Write-only plain-text values, merged into data on write.' }),
  type: named('v1.SecretType', 'Used to facilitate programmatic handling of secret data (Opaque, kubernetes.io/dockerconfigjson, ...).'),
});

export const ConfigMapSchema = root('v1.ConfigMap', 'ConfigMap holds configuration data for pods to consume.', {
  immutable: bool({ description: 'When true, data cannot be changed after creation.' }),
  data: map(str(), { description: 'Configuration data as UTF-8 strings.' }),
  binaryData: goType('map[string][]uint8', map(str({ format: 'byte' }), { description: 'Binary configuration data, each value base64 encoded.' })),
});

const ObjectReference = goType(
  'v1.ObjectReference',
  obj(
    {
      kind: str(),
      namespace: str(),
      name: str(),
      uid: str(),
      apiVersion: str(),
      resourceVersion: str(),
      fieldPath: str({ description: 'A field of the object, such as spec.containers{name}.' }),
    },
    [],
    { atomic: true, description: 'A reference to an object.' },
  ),
);

export const EventSchema = root(
  'v1.Event',
  'Event is a report of an event somewhere in the cluster.',
  {
    involvedObject: ObjectReference,
    reason: str({ description: 'Short, machine-understandable reason of the transition (CamelCase).' }),
    message: str({ description: 'Human-readable description of the event.' }),
    source: goType('v1.EventSource', obj({ component: str({ description: 'Component that reported the event.' }), host: str({ description: 'Node the event came from.' }) })),
    firstTimestamp: time('When the event was first recorded.'),
    lastTimestamp: time('When the event was last recorded.'),
    count: int({ format: 'int32', description: 'How often the event occurred.' }),
    type: str({ description: 'Normal or Warning.' }),
    eventTime: microTime('When the event was first observed'),
    series: goType('v1.EventSeries', obj({ count: Int32(), lastObservedTime: microTime('When the last event of the series was seen') })),
    action: str({ description: 'What was done, or what failed, about the object.' }),
    related: ObjectReference,
    reportingComponent: str({ description: 'Name of the controller that emitted the event.' }),
    reportingInstance: str({ description: 'Id of the controller instance.' }),
  },
  ['metadata', 'involvedObject'],
);

export const StorageClassSchema = root(
  'v1.StorageClass',
  'StorageClass describes a class of storage that volumes can be provisioned from.',
  {
    provisioner: str({ description: 'Name of the volume plugin that provisions volumes of this class.' }),
    parameters: map(str(), { description: 'Parameters for the provisioner.' }),
    reclaimPolicy: named('v1.PersistentVolumeReclaimPolicy', 'Delete or Retain; Delete by default.'),
    mountOptions: arr(str(), { listType: 'atomic', description: 'Mount options of volumes of this class.' }),
    allowVolumeExpansion: bool({ description: 'Whether claims of this class may grow.' }),
    volumeBindingMode: named('v1.VolumeBindingMode', 'Immediate or WaitForFirstConsumer.'),
    allowedTopologies: arr(
      goType(
        'v1.TopologySelectorTerm',
        obj({
          matchLabelExpressions: arr(goType('v1.TopologySelectorLabelRequirement', obj({ key: str(), values: arr(str(), { listType: 'atomic' }) }, ['key', 'values'])), {
            listType: 'atomic',
          }),
        }, [], { atomic: true }),
      ),
      { listType: 'atomic' },
    ),
  },
  ['provisioner'],
);

export const LeaseSchema = root('v1.Lease', 'Lease defines a lease concept: one holder at a time.', {
  spec: goType(
    'v1.LeaseSpec',
    obj({
      holderIdentity: str({ description: 'Identity of the current holder.' }),
      leaseDurationSeconds: int({ format: 'int32', description: 'Seconds a candidate waits before taking the lease over.' }),
      acquireTime: microTime('When the current lease was acquired'),
      renewTime: microTime('When the current holder last renewed the lease'),
      leaseTransitions: int({ format: 'int32', description: 'How often the lease changed holders.' }),
      strategy: str({ description: 'Coordinated leader election strategy.' }),
      preferredHolder: str({ description: 'Holder the lease should pass to.' }),
    }),
  ),
});

export const VirtualMachineSchema = root('v1.VirtualMachine', 'VirtualMachine handles the virtual machines of KubeVirt (as far as DataVolumes go).', {
  spec: opaque({ description: "KubeVirt's VirtualMachineSpec; dataVolumeTemplates are acted on, the rest is kept as given." }),
  status: opaque({ description: 'The observed state of the VirtualMachine.' }),
});

export const VirtualMachineInstanceSchema = root('v1.VirtualMachineInstance', 'VirtualMachineInstance is one run of a virtual machine (KubeVirt); cdi serve runs it in a virt-launcher pod.', {
  spec: opaque({ description: "KubeVirt's VirtualMachineInstanceSpec; what the local VM runtime cannot provide is reported in the Synchronized condition." }),
  status: opaque({ description: 'The observed state of the VirtualMachineInstance.' }),
});

export const UploadTokenRequestSchema = root('v1beta1.UploadTokenRequest', 'UploadTokenRequest asks for a token to upload into a claim.', {
  spec: goType('v1beta1.UploadTokenRequestSpec', obj({ pvcName: str({ description: 'Name of the claim to upload into.' }) }, ['pvcName'])),
  status: goType('v1beta1.UploadTokenRequestStatus', obj({ token: str({ description: 'The token to present to the upload proxy.' }) })),
});
