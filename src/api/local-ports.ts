/**
 * In embedded mode every pod runs on 127.0.0.1, so the node agent gives each declared
 * containerPort a free host port and records the mapping on the pod in this annotation.
 * Whoever connects to a pod (metrics scrape, upload proxy) resolves addresses through here,
 * which also works unchanged for real pods (no annotation: podIP and the container port).
 */
export const PortMapAnnotation = 'local.cdi.kubevirt.io/port-map';

interface PodLike {
  metadata?: { annotations?: Record<string, string> };
  status?: { podIP?: string };
}

export function resolvePodPort(pod: PodLike, containerPort: number): { host: string; port: number } | undefined {
  const raw = pod.metadata?.annotations?.[PortMapAnnotation];
  const host = pod.status?.podIP;
  if (!host) return undefined;
  if (raw) {
    const mapped = (JSON.parse(raw) as Record<string, number>)[String(containerPort)];
    return mapped ? { host, port: mapped } : undefined;
  }
  return { host, port: containerPort };
}

/**
 * Embedded mode: the owner-only unix socket an upload server pod also listens on. The node agent
 * records it here; the upload proxy (same user, same machine) forwards through it instead of
 * starting a second TLS session on loopback.
 */
export const LocalSocketAnnotation = 'local.cdi.kubevirt.io/upload-socket';
