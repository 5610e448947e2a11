import { ConditionStatusSchema, Int32, LabelSelectorSchema, LocalObjectReferenceSchema, ResourceRequirementsSchema } from './core-schemas.ts';
import { arr, bool, goType, int, intOrString, map, named, obj, opaque, quantity, str, type JsonSchema } from './schema.ts';

/**
 * core/v1 Pod as Kubernetes 1.32 defines it, field by field, so manifests are checked the way
 * kube-apiserver checks them. The few deep, rarely sent subtrees (affinity, the cloud volume
 * sources, ephemeral volume templates) keep what they are given instead of being modelled.
 */
const Int64 = () => int({ format: 'int64' });
const time = (description: string) => str({ format: 'date-time', description });
const kept = (go: string, description: string) => goType(go, opaque({ description }));

// Its own object (the claim spec shares ResourceRequirementsSchema under another Go name), with
// the dynamic resource claims a container or pod may name.
const ContainerResources = goType('v1.ResourceRequirements', {
  ...ResourceRequirementsSchema,
  properties: {
    ...ResourceRequirementsSchema.properties,
    claims: arr(goType('v1.ResourceClaim', obj({ name: str({ description: 'Name of an entry of spec.resourceClaims.' }), request: str() }, ['name'])), {
      listType: 'map',
      keys: ['name'],
      description: 'Resource claims of spec.resourceClaims this container uses.',
    }),
  },
});

const ObjectFieldSelector = goType(
  'v1.ObjectFieldSelector',
  obj({ apiVersion: str({ description: 'Version of the schema fieldPath is written in, "v1" by default.' }), fieldPath: str({ description: 'Path of the field to select.' }) }, ['fieldPath'], { atomic: true }),
);
const ResourceFieldSelector = goType(
  'v1.ResourceFieldSelector',
  obj(
    {
      containerName: str({ description: 'Container name: required for volumes, optional for env vars.' }),
      resource: str({ description: 'Resource to select: limits.cpu, requests.memory, ...' }),
      divisor: quantity({ description: 'Output format of the exposed resource, 1 by default.' }),
    },
    ['resource'],
    { atomic: true },
  ),
);
const KeySelector = (go: string, what: string) =>
  goType(
    go,
    obj(
      {
        key: str({ description: `The key of the ${what} to select.` }),
        name: str({ description: `Name of the ${what} in the pod's namespace.` }),
        optional: bool({ description: `Whether the ${what} or its key may be missing.` }),
      },
      ['key'],
      { atomic: true },
    ),
  );

const EnvVarSource = goType(
  'v1.EnvVarSource',
  obj({
    fieldRef: ObjectFieldSelector,
    resourceFieldRef: ResourceFieldSelector,
    configMapKeyRef: KeySelector('v1.ConfigMapKeySelector', 'ConfigMap'),
    secretKeyRef: KeySelector('v1.SecretKeySelector', 'Secret'),
  }),
);
const EnvVar = goType(
  'v1.EnvVar',
  obj(
    {
      name: str({ description: 'Name of the environment variable.' }),
      value: str({ description: 'Value, with $(VAR) references to earlier variables expanded.' }),
      valueFrom: EnvVarSource,
    },
    ['name'],
  ),
);
const EnvFromSource = goType(
  'v1.EnvFromSource',
  obj({
    prefix: str({ description: 'Prefix put in front of every key.' }),
    configMapRef: goType('v1.ConfigMapEnvSource', obj({ name: str(), optional: bool() })),
    secretRef: goType('v1.SecretEnvSource', obj({ name: str(), optional: bool() })),
  }),
);

const ContainerPort = goType(
  'v1.ContainerPort',
  obj(
    {
      containerPort: Int32(),
      hostIP: str({ description: 'Host IP to bind the host port to.' }),
      hostPort: Int32(),
      name: str({ description: 'IANA_SVC_NAME of the port, unique in the pod.' }),
      protocol: named('v1.Protocol', 'UDP, TCP or SCTP; TCP by default.'),
    },
    ['containerPort'],
  ),
);

const ExecAction = goType('v1.ExecAction', obj({ command: arr(str(), { listType: 'atomic', description: 'Command line run inside the container.' }) }));
const HTTPHeader = goType('v1.HTTPHeader', obj({ name: str(), value: str() }, ['name', 'value']));
const HTTPGetAction = goType(
  'v1.HTTPGetAction',
  obj(
    {
      path: str({ description: 'Path to request.' }),
      port: intOrString({ description: 'Port number or name to connect to.' }),
      host: str({ description: 'Host name to connect to, the pod IP by default.' }),
      scheme: str({ description: 'HTTP or HTTPS.' }),
      httpHeaders: arr(HTTPHeader, { listType: 'atomic', description: 'Custom headers of the request.' }),
    },
    ['port'],
  ),
);
const TCPSocketAction = goType('v1.TCPSocketAction', obj({ port: intOrString(), host: str() }, ['port']));
const GRPCAction = goType('v1.GRPCAction', obj({ port: Int32(), service: str() }, ['port']));
const SleepAction = goType('v1.SleepAction', obj({ seconds: Int64() }, ['seconds']));

const Probe = goType(
  'v1.Probe',
  obj({
    exec: ExecAction,
    httpGet: HTTPGetAction,
    tcpSocket: TCPSocketAction,
    grpc: GRPCAction,
    initialDelaySeconds: Int32(),
    timeoutSeconds: Int32(),
    periodSeconds: Int32(),
    successThreshold: Int32(),
    failureThreshold: Int32(),
    terminationGracePeriodSeconds: Int64(),
  }, [], { description: 'A health check run against the container.' }),
);
const LifecycleHandler = goType('v1.LifecycleHandler', obj({ exec: ExecAction, httpGet: HTTPGetAction, tcpSocket: TCPSocketAction, sleep: SleepAction }));
const Lifecycle = goType('v1.Lifecycle', obj({ postStart: LifecycleHandler, preStop: LifecycleHandler, stopSignal: str() }));

const Capabilities = goType(
  'v1.Capabilities',
  obj({ add: arr(named('v1.Capability'), { listType: 'atomic' }), drop: arr(named('v1.Capability'), { listType: 'atomic' }) }, [], { description: 'POSIX capabilities to add and drop.' }),
);
const SELinuxOptions = goType('v1.SELinuxOptions', obj({ user: str(), role: str(), type: str(), level: str() }));
const WindowsOptions = goType(
  'v1.WindowsSecurityContextOptions',
  obj({ gmsaCredentialSpecName: str(), gmsaCredentialSpec: str(), runAsUserName: str(), hostProcess: bool() }),
);
const SeccompProfile = goType('v1.SeccompProfile', obj({ type: str({ description: 'RuntimeDefault, Unconfined or Localhost.' }), localhostProfile: str() }, ['type']));
const AppArmorProfile = goType('v1.AppArmorProfile', obj({ type: str(), localhostProfile: str() }, ['type']));

const SecurityContext = goType(
  'v1.SecurityContext',
  obj({
    capabilities: Capabilities,
    privileged: bool({ description: 'Run as privileged: equivalent to root on the host.' }),
    seLinuxOptions: SELinuxOptions,
    windowsOptions: WindowsOptions,
    runAsUser: Int64(),
    runAsGroup: Int64(),
    runAsNonRoot: bool(),
    readOnlyRootFilesystem: bool(),
    allowPrivilegeEscalation: bool({ description: 'Whether a process may gain more privileges than its parent (no_new_privs).' }),
    procMount: str(),
    seccompProfile: SeccompProfile,
    appArmorProfile: AppArmorProfile,
  }),
);

const VolumeMount = goType(
  'v1.VolumeMount',
  obj(
    {
      name: str({ description: 'Name of a volume of the pod.' }),
      mountPath: str({ description: 'Path inside the container where the volume is mounted.' }),
      readOnly: bool(),
      recursiveReadOnly: str(),
      subPath: str({ description: 'Path inside the volume to mount instead of its root.' }),
      subPathExpr: str(),
      mountPropagation: str(),
    },
    ['name', 'mountPath'],
  ),
);
const VolumeDevice = goType(
  'v1.VolumeDevice',
  obj({ name: str({ description: 'Name of a Block volume claim of the pod.' }), devicePath: str({ description: 'Device path inside the container.' }) }, ['name', 'devicePath']),
);
const ContainerResizePolicy = goType('v1.ContainerResizePolicy', obj({ resourceName: str(), restartPolicy: str() }, ['resourceName', 'restartPolicy']));

const ContainerFields = {
  name: str({ description: 'Name of the container, unique in the pod (a DNS label).' }),
  image: str({ description: 'Container image name.' }),
  command: arr(str(), { listType: 'atomic', description: 'Entrypoint; the image ENTRYPOINT when empty.' }),
  args: arr(str(), { listType: 'atomic', description: 'Arguments to the entrypoint; the image CMD when empty.' }),
  workingDir: str(),
  ports: arr(ContainerPort, { listType: 'map', keys: ['containerPort', 'protocol'], mergeKey: 'containerPort', description: 'Ports the container exposes.' }),
  envFrom: arr(EnvFromSource, { listType: 'atomic', description: 'Sources of environment variables.' }),
  env: arr(EnvVar, { listType: 'map', keys: ['name'], mergeKey: 'name', description: 'Environment variables of the container.' }),
  resources: ContainerResources,
  resizePolicy: arr(ContainerResizePolicy, { listType: 'atomic' }),
  restartPolicy: str({ description: 'Always for a sidecar init container.' }),
  volumeMounts: arr(VolumeMount, { listType: 'map', keys: ['mountPath'], mergeKey: 'mountPath', description: 'Volumes mounted into the filesystem.' }),
  volumeDevices: arr(VolumeDevice, { listType: 'map', keys: ['devicePath'], mergeKey: 'devicePath', description: 'Block devices the container uses.' }),
  livenessProbe: Probe,
  readinessProbe: Probe,
  startupProbe: Probe,
  lifecycle: Lifecycle,
  terminationMessagePath: str(),
  terminationMessagePolicy: named('v1.TerminationMessagePolicy', 'File or FallbackToLogsOnError.'),
  imagePullPolicy: named('v1.PullPolicy', 'Always, Never or IfNotPresent.'),
  securityContext: SecurityContext,
  stdin: bool(),
  stdinOnce: bool(),
  tty: bool(),
};
export const ContainerSchema = goType('v1.Container', obj(ContainerFields, ['name'], { description: 'A single application container of a pod.' }));
const EphemeralContainer = goType('v1.EphemeralContainer', obj({ ...ContainerFields, targetContainerName: str() }, ['name']));

const KeyToPath = goType('v1.KeyToPath', obj({ key: str(), path: str(), mode: Int32() }, ['key', 'path']));
const items = () => arr(KeyToPath, { listType: 'atomic', description: 'Keys to project, each to a relative path.' });
const DownwardAPIVolumeFile = goType(
  'v1.DownwardAPIVolumeFile',
  obj({ path: str(), fieldRef: ObjectFieldSelector, resourceFieldRef: ResourceFieldSelector, mode: Int32() }, ['path']),
);
const ConfigMapProjection = goType('v1.ConfigMapProjection', obj({ name: str(), items: items(), optional: bool() }));
const SecretProjection = goType('v1.SecretProjection', obj({ name: str(), items: items(), optional: bool() }));
const ServiceAccountTokenProjection = goType(
  'v1.ServiceAccountTokenProjection',
  obj({ audience: str(), expirationSeconds: Int64(), path: str() }, ['path']),
);
const VolumeProjection = goType(
  'v1.VolumeProjection',
  obj({
    configMap: ConfigMapProjection,
    secret: SecretProjection,
    downwardAPI: goType('v1.DownwardAPIProjection', obj({ items: arr(DownwardAPIVolumeFile, { listType: 'atomic' }) })),
    serviceAccountToken: ServiceAccountTokenProjection,
    clusterTrustBundle: kept('v1.ClusterTrustBundleProjection', 'Projects a ClusterTrustBundle into the volume.'),
  }),
);

const cloudSources = [
  'awsElasticBlockStore', 'azureDisk', 'azureFile', 'cephfs', 'cinder', 'fc', 'flexVolume', 'flocker',
  'gcePersistentDisk', 'gitRepo', 'glusterfs', 'iscsi', 'nfs', 'photonPersistentDisk', 'portworxVolume',
  'quobyte', 'rbd', 'scaleIO', 'storageos', 'vsphereVolume', 'csi', 'image',
] as const;
const otherSources = Object.fromEntries(cloudSources.map((s) => [s, kept(`v1.${s[0]!.toUpperCase()}${s.slice(1)}VolumeSource`, `${s}: a volume type not served locally, kept as given.`)])) as Record<
  (typeof cloudSources)[number],
  JsonSchema
>;

export const VolumeSchema = goType(
  'v1.Volume',
  obj(
    {
      name: str({ description: 'Name of the volume, unique in the pod (a DNS label).' }),
      persistentVolumeClaim: goType(
        'v1.PersistentVolumeClaimVolumeSource',
        obj({ claimName: str({ description: 'Name of a PersistentVolumeClaim in the pod\'s namespace.' }), readOnly: bool() }, ['claimName']),
      ),
      emptyDir: goType('v1.EmptyDirVolumeSource', obj({ medium: str({ description: '"" or Memory.' }), sizeLimit: quantity() })),
      hostPath: goType('v1.HostPathVolumeSource', obj({ path: str(), type: str() }, ['path'])),
      configMap: goType('v1.ConfigMapVolumeSource', obj({ name: str(), items: items(), defaultMode: Int32(), optional: bool() })),
      secret: goType('v1.SecretVolumeSource', obj({ secretName: str(), items: items(), defaultMode: Int32(), optional: bool() })),
      downwardAPI: goType('v1.DownwardAPIVolumeSource', obj({ items: arr(DownwardAPIVolumeFile, { listType: 'atomic' }), defaultMode: Int32() })),
      projected: goType('v1.ProjectedVolumeSource', obj({ sources: arr(VolumeProjection, { listType: 'atomic' }), defaultMode: Int32() })),
      ephemeral: kept('v1.EphemeralVolumeSource', 'A claim created for the pod from a template and deleted with it.'),
      ...otherSources,
    },
    ['name'],
    { description: 'A named volume that containers of the pod can mount.' },
  ),
);

const Toleration = goType(
  'v1.Toleration',
  obj({
    key: str(),
    operator: str({ description: 'Exists or Equal; Equal by default.' }),
    value: str(),
    effect: str({ description: 'NoSchedule, PreferNoSchedule or NoExecute; all when empty.' }),
    tolerationSeconds: Int64(),
  }),
);
const PodSecurityContext = goType(
  'v1.PodSecurityContext',
  obj({
    seLinuxOptions: SELinuxOptions,
    windowsOptions: WindowsOptions,
    runAsUser: Int64(),
    runAsGroup: Int64(),
    runAsNonRoot: bool(),
    supplementalGroups: arr(Int64(), { listType: 'atomic' }),
    supplementalGroupsPolicy: str(),
    fsGroup: Int64(),
    fsGroupChangePolicy: str(),
    sysctls: arr(goType('v1.Sysctl', obj({ name: str(), value: str() }, ['name', 'value'])), { listType: 'atomic' }),
    seccompProfile: SeccompProfile,
    appArmorProfile: AppArmorProfile,
    seLinuxChangePolicy: str(),
  }),
);
const TopologySpreadConstraint = goType(
  'v1.TopologySpreadConstraint',
  obj(
    {
      maxSkew: Int32(),
      topologyKey: str(),
      whenUnsatisfiable: str(),
      labelSelector: goType('v1.LabelSelector', LabelSelectorSchema),
      minDomains: Int32(),
      nodeAffinityPolicy: str(),
      nodeTaintsPolicy: str(),
      matchLabelKeys: arr(str(), { listType: 'atomic' }),
    },
    ['maxSkew', 'topologyKey', 'whenUnsatisfiable'],
  ),
);

export const PodSpecSchema = goType(
  'v1.PodSpec',
  obj(
    {
      volumes: arr(VolumeSchema, { listType: 'map', keys: ['name'], mergeKey: 'name', patchStrategy: 'merge,retainKeys', description: 'Volumes that containers of the pod can mount.' }),
      initContainers: arr(ContainerSchema, { listType: 'map', keys: ['name'], mergeKey: 'name', description: 'Containers run in order, each to completion, before the app containers start.' }),
      containers: arr(ContainerSchema, { listType: 'map', keys: ['name'], mergeKey: 'name', description: 'The containers of the pod. At least one.' }),
      ephemeralContainers: arr(EphemeralContainer, { listType: 'map', keys: ['name'], mergeKey: 'name' }),
      restartPolicy: named('v1.RestartPolicy', 'Always, OnFailure or Never; Always by default.'),
      terminationGracePeriodSeconds: Int64(),
      activeDeadlineSeconds: Int64(),
      dnsPolicy: named('v1.DNSPolicy', 'ClusterFirst (default), ClusterFirstWithHostNet, Default or None.'),
      nodeSelector: map(str(), { description: 'Labels a node must have to run the pod.' }),
      serviceAccountName: str(),
      serviceAccount: str({ description: 'Deprecated alias of serviceAccountName.' }),
      automountServiceAccountToken: bool(),
      nodeName: str(),
      hostNetwork: bool(),
      hostPID: bool(),
      hostIPC: bool(),
      shareProcessNamespace: bool(),
      securityContext: PodSecurityContext,
      imagePullSecrets: arr(goType('v1.LocalObjectReference', LocalObjectReferenceSchema), { listType: 'map', keys: ['name'], mergeKey: 'name' }),
      hostname: str(),
      subdomain: str(),
      affinity: kept('v1.Affinity', 'Node, pod and pod anti-affinity scheduling rules.'),
      schedulerName: str(),
      tolerations: arr(Toleration, { listType: 'atomic' }),
      hostAliases: arr(goType('v1.HostAlias', obj({ ip: str(), hostnames: arr(str(), { listType: 'atomic' }) }, ['ip'])), { listType: 'map', keys: ['ip'], mergeKey: 'ip' }),
      priorityClassName: str(),
      priority: Int32(),
      dnsConfig: goType(
        'v1.PodDNSConfig',
        obj({
          nameservers: arr(str(), { listType: 'atomic' }),
          searches: arr(str(), { listType: 'atomic' }),
          options: arr(goType('v1.PodDNSConfigOption', obj({ name: str(), value: str() })), { listType: 'atomic' }),
        }),
      ),
      readinessGates: arr(goType('v1.PodReadinessGate', obj({ conditionType: str() }, ['conditionType'])), { listType: 'atomic' }),
      runtimeClassName: str(),
      enableServiceLinks: bool(),
      preemptionPolicy: str(),
      overhead: map(quantity()),
      topologySpreadConstraints: arr(TopologySpreadConstraint, { listType: 'map', keys: ['topologyKey', 'whenUnsatisfiable'], mergeKey: 'topologyKey' }),
      setHostnameAsFQDN: bool(),
      os: goType('v1.PodOS', obj({ name: str({ description: 'linux or windows.' }) }, ['name'])),
      hostUsers: bool(),
      schedulingGates: arr(goType('v1.PodSchedulingGate', obj({ name: str() }, ['name'])), { listType: 'map', keys: ['name'], mergeKey: 'name' }),
      resourceClaims: arr(goType('v1.PodResourceClaim', obj({ name: str(), resourceClaimName: str(), resourceClaimTemplateName: str() }, ['name'])), {
        listType: 'map',
        keys: ['name'],
        mergeKey: 'name',
      }),
      resources: ContainerResources,
    },
    ['containers'],
    { description: 'The desired behaviour of the pod.' },
  ),
);

const ContainerStateSchema = goType(
  'v1.ContainerState',
  obj({
    waiting: goType('v1.ContainerStateWaiting', obj({ reason: str(), message: str() })),
    running: goType('v1.ContainerStateRunning', obj({ startedAt: time('When the container (last) started.') })),
    terminated: goType(
      'v1.ContainerStateTerminated',
      obj(
        {
          exitCode: Int32(),
          signal: Int32(),
          reason: str(),
          message: str(),
          startedAt: time('When the container started.'),
          finishedAt: time('When the container ended.'),
          containerID: str(),
        },
        ['exitCode'],
      ),
    ),
  }),
);
const ContainerStatus = goType(
  'v1.ContainerStatus',
  obj(
    {
      name: str(),
      state: ContainerStateSchema,
      lastState: ContainerStateSchema,
      ready: bool(),
      restartCount: Int32(),
      image: str(),
      imageID: str(),
      containerID: str(),
      started: bool(),
      allocatedResources: map(quantity()),
      resources: ContainerResources,
      volumeMounts: arr(kept('v1.VolumeMountStatus', 'A mount as the runtime reports it.'), { listType: 'map', keys: ['mountPath'], mergeKey: 'mountPath' }),
      user: kept('v1.ContainerUser', 'The identity the container runs as.'),
      allocatedResourcesStatus: arr(kept('v1.ResourceStatus', 'Health of an allocated resource.'), { listType: 'map', keys: ['name'], mergeKey: 'name' }),
      stopSignal: str(),
    },
    ['name', 'ready', 'restartCount', 'image', 'imageID'],
  ),
);
const PodIP = goType('v1.PodIP', obj({ ip: str() }, ['ip']));
const PodCondition = goType(
  'v1.PodCondition',
  obj(
    {
      type: str({ description: 'PodScheduled, Initialized, ContainersReady, Ready, ...' }),
      observedGeneration: Int64(),
      status: ConditionStatusSchema,
      lastProbeTime: time('Last time the condition was probed.'),
      lastTransitionTime: time('Last time the condition changed status.'),
      reason: str(),
      message: str(),
    },
    ['type', 'status'],
  ),
);

export const PodStatusSchema = goType(
  'v1.PodStatus',
  obj(
    {
      observedGeneration: Int64(),
      phase: named('v1.PodPhase', 'Pending, Running, Succeeded, Failed or Unknown.'),
      conditions: arr(PodCondition, { listType: 'map', keys: ['type'], mergeKey: 'type' }),
      message: str(),
      reason: str(),
      nominatedNodeName: str(),
      hostIP: str(),
      hostIPs: arr(goType('v1.HostIP', obj({ ip: str() }, ['ip'])), { listType: 'atomic', mergeKey: 'ip' }),
      podIP: str(),
      podIPs: arr(PodIP, { listType: 'map', keys: ['ip'], mergeKey: 'ip' }),
      startTime: time('When the node accepted the pod.'),
      initContainerStatuses: arr(ContainerStatus, { listType: 'atomic' }),
      containerStatuses: arr(ContainerStatus, { listType: 'atomic' }),
      qosClass: str(),
      ephemeralContainerStatuses: arr(ContainerStatus, { listType: 'atomic' }),
      resize: str(),
      resourceClaimStatuses: arr(kept('v1.PodResourceClaimStatus', 'The ResourceClaim generated for a pod resource claim.'), { listType: 'map', keys: ['name'], mergeKey: 'name' }),
    },
    [],
    { description: 'The observed state of the pod, written by the node agent.' },
  ),
);

