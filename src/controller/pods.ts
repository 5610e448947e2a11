import type { V1Container, V1EnvVar, V1OwnerReference, V1PersistentVolumeClaim, V1Pod, V1PodSecurityContext, V1SecurityContext, V1Service } from '@kubernetes/client-node';
import { Ann, Label, UploadClientName } from '../api/annotations.ts';
import { filesystemOverheadFor, type CdiConfig } from '../api/cdiconfig.ts';
import { ClonerEnv, ImporterEnv, PodPaths, UploadServerEnv } from '../api/env.ts';
import { WorkerImages, type WorkerKind } from '../api/images.ts';
import { importerPodName, uploadPodName, uploadSecretName, uploadServiceName } from './names.ts';

/**
 * Worker pods as CDI's import, upload and clone controllers build them: names, labels, owner,
 * restart policy, CDI's environment contract, and the target volume at /data (Filesystem) or
 * /dev/cdi-block-volume (Block).
 */
export type WorkerImageMap = Record<WorkerKind, string>;

export function workerImages(overrides: Partial<WorkerImageMap> = {}): WorkerImageMap {
  return {
    importer: overrides.importer ?? `${WorkerImages.importer.repository}:latest`,
    uploadServer: overrides.uploadServer ?? `${WorkerImages.uploadServer.repository}:latest`,
    cloner: overrides.cloner ?? `${WorkerImages.cloner.repository}:latest`,
  };
}

export const WorkerPort = 8443;
export const CloneSourceMount = '/var/run/cdi/clone/source';

const isBlock = (pvc: V1PersistentVolumeClaim) => pvc.spec?.volumeMode === 'Block';

function ownerRefTo(pvc: V1PersistentVolumeClaim): V1OwnerReference {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    name: pvc.metadata?.name ?? '',
    uid: pvc.metadata?.uid ?? '',
    controller: true,
    blockOwnerDeletion: true,
  };
}

function targetMounts(pvc: V1PersistentVolumeClaim): Pick<V1Container, 'volumeMounts' | 'volumeDevices'> {
  return isBlock(pvc)
    ? { volumeDevices: [{ name: 'cdi-data-vol', devicePath: PodPaths.blockTarget }] }
    : { volumeMounts: [{ name: 'cdi-data-vol', mountPath: PodPaths.dataDir }] };
}

function workerLabels(pvc: V1PersistentVolumeClaim, component: string): Record<string, string> {
  return { ...(pvc.metadata?.labels ?? {}), [Label.app]: Label.appValue, [Label.component]: component, [Label.prometheus]: 'true' };
}

function podAnnotations(pvc: V1PersistentVolumeClaim): Record<string, string> {
  const a = pvc.metadata?.annotations ?? {};
  const passed = ['k8s.v1.cni.cncf.io/networks', 'v1.multus-cni.io/default-network'];
  const out: Record<string, string> = { 'sidecar.istio.io/inject': a['sidecar.istio.io/inject'] ?? 'false' };
  for (const k of passed) if (a[k]) out[k] = a[k];
  return out;
}

/**
 * CDI's restricted security context (util.SetRestrictedSecurityContext): every worker runs as the
 * qemu UID 107, non-root, RuntimeDefault seccomp, all capabilities dropped, no privilege
 * escalation, so a namespace enforcing the restricted Pod Security Standard admits it.
 */
export const WorkerUid = 107;
const restrictedPod: V1PodSecurityContext = { runAsNonRoot: true, runAsUser: WorkerUid, fsGroup: WorkerUid, seccompProfile: { type: 'RuntimeDefault' } };
const restrictedContainer: V1SecurityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };

function podResources(config: CdiConfig | undefined): Pick<V1Container, 'resources'> {
  return config?.spec?.podResourceRequirements ? { resources: config.spec.podResourceRequirements as never } : {};
}

const env = (name: string, value: string | undefined): V1EnvVar[] => (value === undefined ? [] : [{ name, value }]);
const secretEnv = (name: string, secret: string, key: string): V1EnvVar => ({ name, valueFrom: { secretKeyRef: { name: secret, key } } });

/** The DataVolume's uid when the claim has exactly one owner (CDI's OWNER_UID rule), else the claim's. */
export function ownerUidOf(pvc: V1PersistentVolumeClaim): string {
  const owners = pvc.metadata?.ownerReferences ?? [];
  return owners.length === 1 ? (owners[0]?.uid ?? '') : (pvc.metadata?.uid ?? '');
}

export interface ImporterPodInputs {
  pvc: V1PersistentVolumeClaim;
  config: CdiConfig | undefined;
  image: string;
}

/** CDI's isInsecureTLS: a docker:// endpoint whose host[:port] is listed in CDIConfig spec.insecureRegistries. */
export function isInsecureRegistry(endpoint: string | undefined, config: CdiConfig | undefined): boolean {
  if (!endpoint?.startsWith('docker://')) return false;
  let host: string;
  try {
    host = new URL(endpoint).host;
  } catch {
    return false;
  }
  return (config?.spec?.insecureRegistries ?? []).includes(host);
}

/** Values of `<prefix>.0`, `<prefix>.1`, … in index order (CDI's list-in-annotations form). */
function indexedAnnotations(a: Record<string, string>, prefix: string): string[] {
  return Object.keys(a)
    .filter((k) => k.startsWith(`${prefix}.`))
    .sort((x, y) => Number(x.split('.').pop()) - Number(y.split('.').pop()))
    .map((k) => a[k] ?? '');
}

export function importerPod({ pvc, config, image }: ImporterPodInputs): V1Pod {
  const a = pvc.metadata?.annotations ?? {};
  const name = importerPodName(pvc.metadata?.name ?? '');
  const secret = a[Ann.importSecretName];
  const certs = a[Ann.importCertConfigMap];
  const proxy = config?.status?.importProxy ?? config?.spec?.importProxy;
  const headers = indexedAnnotations(a, Ann.importExtraHeaders);
  const headerSecrets = indexedAnnotations(a, Ann.importSecretExtraHeaders);
  const nodePull = isNodePull(pvc);
  const architecture = a[Ann.registryImageArchitecture];
  const envs: V1EnvVar[] = [
    ...env(ImporterEnv.source, a[Ann.importSource] ?? 'http'),
    ...env(ImporterEnv.endpoint, a[Ann.importEndpoint] ?? ''),
    ...env(ImporterEnv.contentType, a[Ann.contentType] ?? 'kubevirt'),
    ...env(ImporterEnv.imageSize, String(pvc.spec?.resources?.requests?.storage ?? '')),
    ...env(ImporterEnv.ownerUid, ownerUidOf(pvc)),
    ...env(ImporterEnv.filesystemOverhead, filesystemOverheadFor(config, pvc.spec?.storageClassName)),
    ...env(ImporterEnv.insecureTls, String(a[Ann.importInsecureSkipVerify] === 'true' || isInsecureRegistry(a[Ann.importEndpoint], config))),
    ...env(ImporterEnv.preallocation, a[Ann.preallocationRequested] ?? 'false'),
    ...env(ImporterEnv.checksum, a[Ann.importChecksum]),
    ...env(ImporterEnv.registryArchitecture, a[Ann.registryImageArchitecture]),
    ...(nodePull ? env(ImporterEnv.pullMethod, 'node') : []),
    ...headers.map((h, i) => ({ name: `${ImporterEnv.extraHeaderPrefix}${i}`, value: h })),
    // A node pull never reaches the registry from the importer: the secret is the node's business.
    ...(secret && !nodePull ? [secretEnv(ImporterEnv.accessKeyId, secret, 'accessKeyId'), secretEnv(ImporterEnv.secretKey, secret, 'secretKey')] : []),
    ...(certs ? env(ImporterEnv.certDir, '/certs') : []),
    ...env('http_proxy', proxy?.HTTPProxy || undefined),
    ...env('https_proxy', proxy?.HTTPSProxy || undefined),
    ...env('no_proxy', proxy?.noProxy || undefined),
  ];
  const mounts = targetMounts(pvc);
  if (certs) mounts.volumeMounts = [...(mounts.volumeMounts ?? []), { name: 'cdi-cert-vol', mountPath: '/certs' }];
  if (nodePull) mounts.volumeMounts = [...(mounts.volumeMounts ?? []), { name: ImageVolumeName, mountPath: PodPaths.imageVolume, readOnly: true }];
  // CDI's layout: Secret i at /extraheaders/i, read by the importer file by file (never in env).
  const headerVolume = (i: number) => `cdi-secret-extra-headers-vol-${i}`;
  if (headerSecrets.length) {
    mounts.volumeMounts = [
      ...(mounts.volumeMounts ?? []),
      ...headerSecrets.map((_, i) => ({ name: headerVolume(i), mountPath: `${PodPaths.secretExtraHeadersDir}/${i}`, readOnly: true })),
    ];
  }
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: pvc.metadata?.namespace ?? 'default',
      labels: workerLabels(pvc, 'importer'),
      annotations: podAnnotations(pvc),
      ownerReferences: [ownerRefTo(pvc)],
    },
    spec: {
      restartPolicy: 'OnFailure',
      enableServiceLinks: false,
      ...(a[Ann.priorityClassName] ? { priorityClassName: a[Ann.priorityClassName] } : {}),
      ...(a[Ann.serviceAccountName] ? { serviceAccountName: a[Ann.serviceAccountName] } : {}),
      // Upstream's node pull pins the node's architecture to the one asked for.
      ...(nodePull && architecture ? { nodeSelector: { 'kubernetes.io/arch': architecture } } : {}),
      securityContext: { ...restrictedPod },
      containers: [
        {
          name: 'importer',
          image,
          imagePullPolicy: 'IfNotPresent',
          env: envs,
          ports: [{ name: 'metrics', containerPort: WorkerPort, protocol: 'TCP' }],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          securityContext: { ...restrictedContainer },
          ...podResources(config),
          ...mounts,
        },
      ],
      volumes: [
        { name: 'cdi-data-vol', persistentVolumeClaim: { claimName: pvc.metadata?.name ?? '' } },
        ...(certs ? [{ name: 'cdi-cert-vol', configMap: { name: certs } }] : []),
        ...headerSecrets.map((secretName, i) => ({ name: headerVolume(i), secret: { secretName } })),
        ...(nodePull ? [{ name: ImageVolumeName, image: { reference: imageReferenceOf(a[Ann.importEndpoint] ?? ''), pullPolicy: 'IfNotPresent' } }] : []),
      ],
    },
  };
}

/**
 * pullMethod node (ADR 0029): the disk image is a Kubernetes image volume, so the kubelet pulls it
 * with the node's credentials and the importer reads the disk from the mount. Upstream runs the
 * image as a container serving its disk instead; a containerDisk built FROM scratch cannot run our
 * Node importer's server, while an image volume needs nothing from the image but its files.
 */
export const ImageVolumeName = 'cdi-image-vol';

const isNodePull = (pvc: V1PersistentVolumeClaim) =>
  pvc.metadata?.annotations?.[Ann.importSource] === 'registry' && pvc.metadata.annotations[Ann.registryImportMethod] === 'node';

/** docker://host/repo:tag → host/repo:tag, the form an image reference takes in a pod. */
const imageReferenceOf = (endpoint: string) => endpoint.replace(/^docker:\/\//, '');

export interface UploadPodInputs {
  pvc: V1PersistentVolumeClaim;
  config: CdiConfig | undefined;
  image: string;
  /** The client certificate CN the server accepts (uploads: the proxy's; clones: the source's). */
  clientName?: string;
}

export function uploadServerPod({ pvc, config, image, clientName }: UploadPodInputs): V1Pod {
  const pvcName = pvc.metadata?.name ?? '';
  const secret = uploadSecretName(pvcName);
  const a = pvc.metadata?.annotations ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: uploadPodName(pvcName),
      namespace: pvc.metadata?.namespace ?? 'default',
      labels: { ...workerLabels(pvc, 'cdi-upload-server'), [Label.uploadTarget]: pvc.metadata?.uid ?? '' },
      annotations: podAnnotations(pvc),
      ownerReferences: [ownerRefTo(pvc)],
    },
    spec: {
      restartPolicy: 'OnFailure',
      enableServiceLinks: false,
      ...(a[Ann.priorityClassName] ? { priorityClassName: a[Ann.priorityClassName] } : {}),
      securityContext: { ...restrictedPod },
      containers: [
        {
          name: 'cdi-upload-server',
          image,
          imagePullPolicy: 'IfNotPresent',
          env: [
            secretEnv(UploadServerEnv.tlsKey, secret, 'tls.key'),
            secretEnv(UploadServerEnv.tlsCert, secret, 'tls.crt'),
            secretEnv(UploadServerEnv.clientCert, secret, 'ca.crt'),
            { name: UploadServerEnv.clientName, value: clientName ?? UploadClientName },
            { name: UploadServerEnv.imageSize, value: String(pvc.spec?.resources?.requests?.storage ?? '') },
            { name: UploadServerEnv.filesystemOverhead, value: filesystemOverheadFor(config, pvc.spec?.storageClassName) },
            { name: UploadServerEnv.preallocation, value: a[Ann.preallocationRequested] ?? 'false' },
            { name: UploadServerEnv.destination, value: isBlock(pvc) ? PodPaths.blockTarget : PodPaths.filesystemTarget },
            { name: UploadServerEnv.contentType, value: a[Ann.contentType] ?? 'kubevirt' },
            { name: ImporterEnv.ownerUid, value: ownerUidOf(pvc) },
          ],
          ports: [{ name: 'https', containerPort: WorkerPort, protocol: 'TCP' }],
          readinessProbe: {
            httpGet: { path: '/healthz', port: WorkerPort as never, scheme: 'HTTPS' },
            initialDelaySeconds: 0,
            periodSeconds: 1,
            failureThreshold: 10,
          },
          terminationMessagePolicy: 'FallbackToLogsOnError',
          securityContext: { ...restrictedContainer },
          ...podResources(config),
          ...targetMounts(pvc),
        },
      ],
      volumes: [{ name: 'cdi-data-vol', persistentVolumeClaim: { claimName: pvcName } }],
    },
  };
}

export function uploadService(pvc: V1PersistentVolumeClaim): V1Service {
  const pvcName = pvc.metadata?.name ?? '';
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: uploadServiceName(pvcName),
      namespace: pvc.metadata?.namespace ?? 'default',
      labels: { [Label.app]: Label.appValue, [Label.component]: 'cdi-upload-server' },
      ownerReferences: [ownerRefTo(pvc)],
    },
    spec: {
      selector: { [Label.uploadTarget]: pvc.metadata?.uid ?? '' },
      ports: [{ name: 'uploadserver', port: WorkerPort, targetPort: WorkerPort as never, protocol: 'TCP' }],
    },
  };
}

export interface ClonerPodInputs {
  source: V1PersistentVolumeClaim;
  target: V1PersistentVolumeClaim;
  name: string;
  secret: string;
  image: string;
  uploadUrl: string;
  serverName: string;
  ownerUid: string;
  config?: CdiConfig | undefined;
}

/** The source side of a host-assisted clone: reads the source volume and posts it to the target's upload server. */
export function clonerPod(i: ClonerPodInputs): V1Pod {
  const block = isBlock(i.source);
  const sourcePath = block ? PodPaths.blockTarget : `${CloneSourceMount}/disk.img`;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: i.name,
      namespace: i.source.metadata?.namespace ?? 'default',
      labels: { [Label.app]: Label.appValue, [Label.component]: 'cdi-clone-source', [Label.prometheus]: 'true', 'cdi.kubevirt.io/clone-target': i.target.metadata?.uid ?? '' },
      annotations: { [Ann.createdForDataVolume]: i.ownerUid },
    },
    spec: {
      restartPolicy: 'OnFailure',
      enableServiceLinks: false,
      securityContext: { ...restrictedPod },
      containers: [
        {
          name: 'cdi-clone-source',
          image: i.image,
          imagePullPolicy: 'IfNotPresent',
          env: [
            { name: ClonerEnv.sourcePath, value: sourcePath },
            { name: ClonerEnv.uploadUrl, value: i.uploadUrl },
            { name: ClonerEnv.serverName, value: i.serverName },
            { name: ClonerEnv.ownerUid, value: i.ownerUid },
            secretEnv(ClonerEnv.clientKey, i.secret, 'tls.key'),
            secretEnv(ClonerEnv.clientCert, i.secret, 'tls.crt'),
            secretEnv(ClonerEnv.serverCaCert, i.secret, 'ca.crt'),
          ],
          ports: [{ name: 'metrics', containerPort: WorkerPort, protocol: 'TCP' }],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          securityContext: { ...restrictedContainer },
          ...podResources(i.config),
          ...(block
            ? { volumeDevices: [{ name: 'cdi-source-vol', devicePath: PodPaths.blockTarget }] }
            : { volumeMounts: [{ name: 'cdi-source-vol', mountPath: CloneSourceMount, readOnly: true }] }),
        },
      ],
      volumes: [{ name: 'cdi-source-vol', persistentVolumeClaim: { claimName: i.source.metadata?.name ?? '', readOnly: true } }],
    },
  };
}
