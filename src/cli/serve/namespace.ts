import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { isConflict } from '../../controller/kube.ts';

/**
 * The embedded control plane's own namespace (the controller keeps CDI's signer Secrets there).
 * In a cluster the manifests install it, so the controller itself never creates namespaces and
 * its RBAC does not grant it; `cdi serve` has no manifests and creates it here.
 */
export async function ensureNamespace(kubeConfig: KubeConfig, name: string): Promise<void> {
  try {
    await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
}
