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
  obj(
    {
    fieldRef: ObjectFieldSelector,
    resourceFieldRef: ResourceFieldSelector,
    configMapKeyRef: KeySelector('v1.ConfigMapKeySelector', 'ConfigMap'),
    secretKeyRef: KeySelector('v1.SecretKeySelector', 'Secret'),
    },
    [],
    { description: 'Where the value comes from: a field of the pod, a resource, or a key of a ConfigMap or Secret.' },
  ),
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
    configMapRef: goType('v1.ConfigMapEnvSource', obj({ name: str({ description: 'Name of the ConfigMap.' }), optional: bool({ description: 'Whether the ConfigMap may be missing.' }) }, [], { description: 'Every key of a ConfigMap as a variable.' })),
    secretRef: goType('v1.SecretEnvSource', obj({ name: str({ description: 'Name of the Secret.' }), optional: bool({ description: 'Whether the Secret may be missing.' }) }, [], { description: 'Every key of a Secret as a variable.' })),
  }),
);

const ContainerPort = goType(
  'v1.ContainerPort',
  obj(
    {
      containerPort: int({ format: 'int32', description: 'Port number on the pod IP (1-65535).' }),
      hostIP: str({ description: 'Host IP to bind the host port to.' }),
      hostPort: int({ format: 'int32', description: 'Port number on the host; most pods need none.' }),
      name: str({ description: 'IANA_SVC_NAME of the port, unique in the pod.' }),
      protocol: named('v1.Protocol', 'UDP, TCP or SCTP; TCP by default.'),
    },
    ['containerPort'],
  ),
);

const ExecAction = goType('v1.ExecAction', obj({ command: arr(str(), { listType: 'atomic', description: 'Command line run inside the container.' }) }));
const HTTPHeader = goType('v1.HTTPHeader', obj({ name: str({ description: 'Header name.' }), value: str({ description: 'Header value.' }) }, ['name', 'value']));
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
const TCPSocketAction = goType(
  'v1.TCPSocketAction',
  obj({ port: intOrString({ description: 'Port number or name to connect to.' }), host: str({ description: 'Host to connect to, the pod IP by default.' }) }, ['port'], { description: 'Succeeds when a TCP connection opens.' }),
);
const GRPCAction = goType(
  'v1.GRPCAction',
  obj({ port: int({ format: 'int32', description: 'Port of the gRPC health service.' }), service: str({ description: 'Service name sent in the health check request.' }) }, ['port'], { description: 'A gRPC health check.' }),
);
const SleepAction = goType('v1.SleepAction', obj({ seconds: int({ format: 'int64', description: 'Seconds to sleep.' }) }, ['seconds'], { description: 'Sleeps before the container goes on.' }));

const Probe = goType(
  'v1.Probe',
  obj({
    exec: ExecAction,
    httpGet: HTTPGetAction,
    tcpSocket: TCPSocketAction,
    grpc: GRPCAction,
    initialDelaySeconds: int({ format: 'int32', description: 'Seconds after the container started before the first probe.' }),
    timeoutSeconds: int({ format: 'int32', description: 'Seconds after which a probe times out; 1 by default.' }),
    periodSeconds: int({ format: 'int32', description: 'Seconds between probes; 10 by default.' }),
    successThreshold: int({ format: 'int32', description: 'Consecutive successes to count as healthy again; 1 by default.' }),
    failureThreshold: int({ format: 'int32', description: 'Consecutive failures to count as failed; 3 by default.' }),
    terminationGracePeriodSeconds: int({ format: 'int64', description: 'Grace period when the probe fails and the container is stopped.' }),
  }, [], { description: 'A health check run against the container.' }),
);
const LifecycleHandler = goType(
  'v1.LifecycleHandler',
  obj({ exec: ExecAction, httpGet: HTTPGetAction, tcpSocket: TCPSocketAction, sleep: SleepAction }, [], { description: 'An action run at a point of the container lifecycle.' }),
);
const Lifecycle = goType(
  'v1.Lifecycle',
  obj(
    {
      postStart: goType('v1.LifecycleHandler', { ...LifecycleHandler, description: 'Run right after the container is created.' }),
      preStop: goType('v1.LifecycleHandler', { ...LifecycleHandler, description: 'Run before the container is stopped.' }),
      stopSignal: str({ description: 'Signal that stops the container.' }),
    },
    [],
    { description: 'Actions the runtime takes when the container starts and stops.' },
  ),
);

const Capabilities = goType(
  'v1.Capabilities',
  obj({ add: arr(named('v1.Capability'), { listType: 'atomic' }), drop: arr(named('v1.Capability'), { listType: 'atomic' }) }, [], { description: 'POSIX capabilities to add and drop.' }),
);
const SELinuxOptions = goType(
  'v1.SELinuxOptions',
  obj({ user: str({ description: 'SELinux user label.' }), role: str({ description: 'SELinux role label.' }), type: str({ description: 'SELinux type label.' }), level: str({ description: 'SELinux level label.' }) }, [], { description: 'SELinux labels of the container.' }),
);
const WindowsOptions = goType(
  'v1.WindowsSecurityContextOptions',
  obj({ gmsaCredentialSpecName: str(), gmsaCredentialSpec: str(), runAsUserName: str(), hostProcess: bool() }, [], { description: 'Windows-specific options (ignored on Linux).' }),
);
const SeccompProfile = goType(
  'v1.SeccompProfile',
  obj({ type: str({ description: 'RuntimeDefault, Unconfined or Localhost.' }), localhostProfile: str({ description: 'Profile file on the node, for Localhost.' }) }, ['type'], { description: 'The seccomp filter applied.' }),
);
const AppArmorProfile = goType(
  'v1.AppArmorProfile',
  obj({ type: str({ description: 'RuntimeDefault, Unconfined or Localhost.' }), localhostProfile: str({ description: 'Profile loaded on the node, for Localhost.' }) }, ['type'], { description: 'The AppArmor profile applied.' }),
);

const SecurityContext = goType(
  'v1.SecurityContext',
  obj(
    {
    capabilities: Capabilities,
    privileged: bool({ description: 'Run as privileged: equivalent to root on the host.' }),
    seLinuxOptions: SELinuxOptions,
    windowsOptions: WindowsOptions,
    runAsUser: int({ format: 'int64', description: 'UID the container process runs as.' }),
    runAsGroup: int({ format: 'int64', description: 'GID the container process runs as.' }),
    runAsNonRoot: bool({ description: 'Refuse to start the container as UID 0.' }),
    readOnlyRootFilesystem: bool({ description: 'Mount the root filesystem read-only.' }),
    allowPrivilegeEscalation: bool({ description: 'Whether a process may gain more privileges than its parent (no_new_privs).' }),
    procMount: str({ description: 'Default or Unmasked /proc.' }),
    seccompProfile: SeccompProfile,
    appArmorProfile: AppArmorProfile,
    },
    [],
    { description: 'Security options of the container; they override the pod securityContext.' },
  ),
);

const VolumeMount = goType(
  'v1.VolumeMount',
  obj(
    {
      name: str({ description: 'Name of a volume of the pod.' }),
      mountPath: str({ description: 'Path inside the container where the volume is mounted.' }),
      readOnly: bool({ description: 'Mount read-only.' }),
      recursiveReadOnly: str({ description: 'Disabled, IfPossible or Enabled: whether submounts are read-only too.' }),
      subPath: str({ description: 'Path inside the volume to mount instead of its root.' }),
      subPathExpr: str({ description: 'Like subPath, with $(VAR) references to the environment expanded.' }),
      mountPropagation: str({ description: 'None, HostToContainer or Bidirectional.' }),
    },
    ['name', 'mountPath'],
  ),
);
const VolumeDevice = goType(
  'v1.VolumeDevice',
  obj({ name: str({ description: 'Name of a Block volume claim of the pod.' }), devicePath: str({ description: 'Device path inside the container.' }) }, ['name', 'devicePath']),
);
const ContainerResizePolicy = goType(
  'v1.ContainerResizePolicy',
  obj({ resourceName: str({ description: 'cpu or memory.' }), restartPolicy: str({ description: 'NotRequired or RestartContainer.' }) }, ['resourceName', 'restartPolicy']),
);

const ContainerFields = {
  name: str({ description: 'Name of the container, unique in the pod (a DNS label).' }),
  image: str({ description: 'Container image name.' }),
  command: arr(str(), { listType: 'atomic', description: 'Entrypoint; the image ENTRYPOINT when empty.' }),
  args: arr(str(), { listType: 'atomic', description: 'Arguments to the entrypoint; the image CMD when empty.' }),
  workingDir: str({ description: "The container's working directory; the image's when empty." }),
  ports: arr(ContainerPort, { listType: 'map', keys: ['containerPort', 'protocol'], mergeKey: 'containerPort', description: 'Ports the container exposes.' }),
  envFrom: arr(EnvFromSource, { listType: 'atomic', description: 'Sources of environment variables.' }),
  env: arr(EnvVar, { listType: 'map', keys: ['name'], mergeKey: 'name', description: 'Environment variables of the container.' }),
  resources: ContainerResources,
  resizePolicy: arr(ContainerResizePolicy, { listType: 'atomic', description: 'How each resource is resized in place.' }),
  restartPolicy: str({ description: 'Always for a sidecar init container.' }),
  volumeMounts: arr(VolumeMount, { listType: 'map', keys: ['mountPath'], mergeKey: 'mountPath', description: 'Volumes mounted into the filesystem.' }),
  volumeDevices: arr(VolumeDevice, { listType: 'map', keys: ['devicePath'], mergeKey: 'devicePath', description: 'Block devices the container uses.' }),
  livenessProbe: Probe,
  readinessProbe: Probe,
  startupProbe: Probe,
  lifecycle: Lifecycle,
  terminationMessagePath: str({ description: 'File whose content becomes the termination message; /dev/termination-log by default.' }),
  terminationMessagePolicy: named('v1.TerminationMessagePolicy', 'File or FallbackToLogsOnError.'),
  imagePullPolicy: named('v1.PullPolicy', 'Always, Never or IfNotPresent.'),
  securityContext: SecurityContext,
  stdin: bool({ description: 'Keep a stdin buffer open for the container.' }),
  stdinOnce: bool({ description: 'Close stdin after the first attach ends.' }),
  tty: bool({ description: 'Allocate a TTY (needs stdin).' }),
};
export const ContainerSchema = goType('v1.Container', obj(ContainerFields, ['name'], { description: 'A single application container of a pod.' }));
const EphemeralContainer = goType(
  'v1.EphemeralContainer',
  obj({ ...ContainerFields, targetContainerName: str({ description: 'Container whose namespaces the debug container joins.' }) }, ['name'], { description: 'A debugging container added to a running pod.' }),
);

const KeyToPath = goType(
  'v1.KeyToPath',
  obj({ key: str({ description: 'The key to project.' }), path: str({ description: 'Relative path of the file.' }), mode: int({ format: 'int32', description: 'Mode bits of the file.' }) }, ['key', 'path']),
);
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
        obj({ claimName: str({ description: "Name of a PersistentVolumeClaim in the pod's namespace." }), readOnly: bool({ description: 'Mount the claim read-only.' }) }, ['claimName'], { description: 'A PersistentVolumeClaim of the namespace.' }),
      ),
      emptyDir: goType('v1.EmptyDirVolumeSource', obj({ medium: str({ description: '"" (node disk) or Memory.' }), sizeLimit: quantity({ description: 'Most the volume may hold.' }) }, [], { description: 'An empty directory that lives as long as the pod.' })),
      hostPath: goType('v1.HostPathVolumeSource', obj({ path: str({ description: 'Path on the host.' }), type: str({ description: 'What must be at the path: Directory, File, DirectoryOrCreate, ...' }) }, ['path'], { description: 'A file or directory of the host.' })),
      configMap: goType('v1.ConfigMapVolumeSource', obj({ name: str({ description: 'Name of the ConfigMap.' }), items: items(), defaultMode: int({ format: 'int32', description: 'Mode bits of the files; 0644 by default.' }), optional: bool({ description: 'Whether the ConfigMap may be missing.' }) }, [], { description: 'The keys of a ConfigMap as files.' })),
      secret: goType('v1.SecretVolumeSource', obj({ secretName: str({ description: 'Name of the Secret.' }), items: items(), defaultMode: int({ format: 'int32', description: 'Mode bits of the files; 0644 by default.' }), optional: bool({ description: 'Whether the Secret may be missing.' }) }, [], { description: 'The keys of a Secret as files.' })),
      downwardAPI: goType('v1.DownwardAPIVolumeSource', obj({ items: arr(DownwardAPIVolumeFile, { listType: 'atomic', description: 'Files with pod fields.' }), defaultMode: Int32() }, [], { description: 'Fields of the pod as files.' })),
      projected: goType('v1.ProjectedVolumeSource', obj({ sources: arr(VolumeProjection, { listType: 'atomic', description: 'What is projected.' }), defaultMode: Int32() }, [], { description: 'Secrets, ConfigMaps, pod fields and tokens in one directory.' })),
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
      terminationGracePeriodSeconds: int({ format: 'int64', description: 'Seconds between SIGTERM and SIGKILL when the pod is deleted; 30 by default.' }),
      activeDeadlineSeconds: int({ format: 'int64', description: 'Seconds the pod may run before it is failed.' }),
      dnsPolicy: named('v1.DNSPolicy', 'ClusterFirst (default), ClusterFirstWithHostNet, Default or None.'),
      nodeSelector: map(str(), { description: 'Labels a node must have to run the pod.' }),
      serviceAccountName: str({ description: 'ServiceAccount the pod runs as.' }),
      serviceAccount: str({ description: 'Deprecated alias of serviceAccountName.' }),
      automountServiceAccountToken: bool({ description: "Mount the service account's token." }),
      nodeName: str({ description: 'Node the pod is bound to.' }),
      hostNetwork: bool({ description: "Use the host's network namespace." }),
      hostPID: bool({ description: "Use the host's PID namespace." }),
      hostIPC: bool({ description: "Use the host's IPC namespace." }),
      shareProcessNamespace: bool({ description: 'One PID namespace for all containers of the pod.' }),
      securityContext: PodSecurityContext,
      imagePullSecrets: arr(goType('v1.LocalObjectReference', LocalObjectReferenceSchema), { listType: 'map', keys: ['name'], mergeKey: 'name' }),
      hostname: str({ description: "The pod's hostname; its name by default." }),
      subdomain: str({ description: 'Subdomain of the pod hostname (with a headless Service of that name).' }),
      affinity: kept('v1.Affinity', 'Node, pod and pod anti-affinity scheduling rules.'),
      schedulerName: str({ description: 'Scheduler that places the pod.' }),
      tolerations: arr(Toleration, { listType: 'atomic', description: 'Taints the pod tolerates.' }),
      hostAliases: arr(goType('v1.HostAlias', obj({ ip: str(), hostnames: arr(str(), { listType: 'atomic' }) }, ['ip'])), { listType: 'map', keys: ['ip'], mergeKey: 'ip' }),
      priorityClassName: str({ description: 'PriorityClass of the pod.' }),
      priority: int({ format: 'int32', description: 'Priority value, from priorityClassName.' }),
      dnsConfig: goType(
        'v1.PodDNSConfig',
        obj({
          nameservers: arr(str(), { listType: 'atomic' }),
          searches: arr(str(), { listType: 'atomic' }),
          options: arr(goType('v1.PodDNSConfigOption', obj({ name: str(), value: str() })), { listType: 'atomic' }),
        }),
      ),
      readinessGates: arr(goType('v1.PodReadinessGate', obj({ conditionType: str() }, ['conditionType'])), { listType: 'atomic' }),
      runtimeClassName: str({ description: 'RuntimeClass that runs the pod.' }),
      enableServiceLinks: bool({ description: 'Put Services of the namespace into the environment; true by default.' }),
      preemptionPolicy: str({ description: 'Never or PreemptLowerPriority.' }),
      overhead: map(quantity(), { description: 'Resources the runtime itself uses for the pod.' }),
      topologySpreadConstraints: arr(TopologySpreadConstraint, { listType: 'map', keys: ['topologyKey', 'whenUnsatisfiable'], mergeKey: 'topologyKey' }),
      setHostnameAsFQDN: bool({ description: 'Set the fully qualified name as hostname.' }),
      os: goType('v1.PodOS', obj({ name: str({ description: 'linux or windows.' }) }, ['name'])),
      hostUsers: bool({ description: "Use the host's user namespace; false gives the pod its own." }),
      schedulingGates: arr(goType('v1.PodSchedulingGate', obj({ name: str() }, ['name'])), { listType: 'map', keys: ['name'], mergeKey: 'name' }),
      resourceClaims: arr(goType('v1.PodResourceClaim', obj({ name: str(), resourceClaimName: str(), resourceClaimTemplateName: str() }, ['name'])), {
        listType: 'map',
        keys: ['name'],
        mergeKey: 'name',
      }),
      resources: ContainerResources,
    },
    ['containers'],
    { description: 'Specification of the desired behavior of the pod.' },
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

