import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { Ann } from '../api/annotations.ts';
import { LocalSocketAnnotation, PortMapAnnotation, resolvePodPort } from '../api/local-ports.ts';
import { localSocketUrl } from '../api/upload-target.ts';
import { UploadFailedReason, type UploadFailureRecorder, type UploadTargetResolver } from '../api/upload-target.ts';
import { Group, Version } from '../api/datavolume.ts';
import { recordEvent } from './events.ts';
import { isNotFound, Kube } from './kube.ts';
import { uploadPodName, uploadServiceName } from './names.ts';
import { WorkerPort } from './pods.ts';


const podReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** Where the proxy reaches a ready upload pod: its socket or local port in embedded mode, its Service in a cluster. */
export function uploadServerUrl(pod: V1Pod, namespace: string, claim: string): string | undefined {
  const socket = pod.metadata?.annotations?.[LocalSocketAnnotation];
  if (socket) return localSocketUrl(socket);
  if (pod.metadata?.annotations?.[PortMapAnnotation]) {
    const addr = resolvePodPort(pod, WorkerPort);
    return addr ? `https://${addr.host.includes(':') ? `[${addr.host}]` : addr.host}:${addr.port}` : undefined;
  }
  return `https://${uploadServiceName(claim)}.${namespace}.svc:${WorkerPort}`;
}

export function createUploadTargetResolver(kubeConfig: KubeConfig): UploadTargetResolver {
  const kube = new Kube(kubeConfig);
  return {
    async resolve(namespace, name) {
      let annotations: Record<string, string>;
      try {
        const pvc = await kube.core.readNamespacedPersistentVolumeClaim({ namespace, name });
        annotations = pvc.metadata?.annotations ?? {};
      } catch (err) {
        if (isNotFound(err)) return { kind: 'missing' };
        throw err;
      }
      if (!(Ann.uploadTarget in annotations)) return { kind: 'not-upload-target' };
      if (annotations[Ann.podPhase] === 'Succeeded') return { kind: 'finished' };
      let pod: V1Pod;
      try {
        pod = await kube.core.readNamespacedPod({ namespace, name: uploadPodName(name) });
      } catch (err) {
        if (isNotFound(err)) return { kind: 'not-ready' };
        throw err;
      }
      if (pod.status?.phase === 'Succeeded') return { kind: 'finished' };
      const url = podReady(pod) && pod.status?.phase === 'Running' ? uploadServerUrl(pod, namespace, name) : undefined;
      if (!url) return { kind: 'not-ready' };
      const contentType = annotations[Ann.contentType] ?? 'kubevirt';
      if (contentType !== 'kubevirt' && contentType !== 'archive') return { kind: 'bad-content-type', value: contentType };
      return { kind: 'ready', url, contentType };
    },
  };
}

/** The proxy's UploadFailureRecorder against the Kubernetes API (events create, claims get). */
export function createUploadFailureRecorder(kubeConfig: KubeConfig): UploadFailureRecorder {
  const kube = new Kube(kubeConfig);
  return {
    async uploadFailed(namespace, name, message) {
      const pvc = await kube.core.readNamespacedPersistentVolumeClaim({ namespace, name });
      await recordEvent(kube, 'cdi-uploadproxy', { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: pvc.metadata }, 'Warning', UploadFailedReason, message);
      const owner = pvc.metadata?.ownerReferences?.find((r) => r.kind === 'DataVolume' && r.apiVersion === `${Group}/${Version}`);
      if (owner) {
        await recordEvent(kube, 'cdi-uploadproxy', { apiVersion: owner.apiVersion, kind: owner.kind, metadata: { name: owner.name, namespace, uid: owner.uid } }, 'Warning', UploadFailedReason, message);
      }
    },
  };
}
