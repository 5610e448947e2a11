import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { Ann } from '../api/annotations.ts';
import { LocalSocketAnnotation, PortMapAnnotation, resolvePodPort } from '../api/local-ports.ts';
import { localSocketUrl } from '../api/upload-target.ts';
import type { UploadTargetResolver } from '../api/upload-target.ts';
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
