import path from 'node:path';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions, CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../../api/logger.ts';
import { startApiServer } from '../../apiserver/index.ts';
import { DefaultCdiNamespace, startController } from '../../controller/index.ts';
import { pollImageDigest } from '../../sources/registry/digest.ts';
import { pooledKubeConfig } from '../../controller/kube.ts';
import { startNodeAgent } from '../../node/agent.ts';
import { lockDataDir } from './data-dir.ts';
import { ensureNamespace } from './namespace.ts';
import { runUploadProxy } from './upload-proxy-runner.ts';
import { uploadProxyServingCert } from './upload-proxy-tls.ts';

export interface ServeOptions {
  dataDir: string;
  host: string;
  port: number;
  uploadProxyPort: number;
  /** The local VM runtime's accelerator (default auto). */
  vmAccelerator?: 'auto' | 'kvm' | 'tcg';
  logger: Logger;
}

export interface ServeHandle {
  apiUrl: string;
  kubeconfigPath: string;
  uploadProxyUrl: string;
  /** Stops everything in reverse start order; pods' processes end with the node agent. */
  close(): Promise<void>;
}

/**
 * The embedded control plane in one process tree: API server, node agent (worker pods become
 * child processes), DataVolume/VM controller and the upload proxy, whose URL is published in the
 * `config` CDIConfig's status as CDI's operator does.
 */
export async function startServe(o: ServeOptions): Promise<ServeHandle> {
  const unlock = await lockDataDir(o.dataDir);
  const closers: Array<() => Promise<void>> = [unlock];
  const close = async () => {
    for (const c of closers.reverse()) {
      await c().catch((err: unknown) => o.logger.error({ err: String(err) }, 'shutdown step failed'));
    }
  };
  try {
    const api = await startApiServer({ dataDir: o.dataDir, host: o.host, port: o.port, logger: o.logger });
    closers.push(() => api.close());
    const loaded = new KubeConfig();
    loaded.loadFromFile(api.kubeconfigPath);
    // Pooled TLS connections for every in-process client: client-node otherwise makes a new
    // agent, and so a new TLS session kept alive by both ends, for every request.
    const kubeConfig = pooledKubeConfig(loaded);

    const agent = await startNodeAgent({ kubeConfig: pooledKubeConfig(loaded), dataDir: o.dataDir, logger: o.logger });
    closers.push(() => agent.close());
    const serving = await uploadProxyServingCert(o.dataDir, proxyHostnames(o.host));
    // The upload proxy process starts beside the controller and waits for the client
    // certificate the controller issues: its start-up is most of serve's (docs/adr/0030). The
    // certificate is there before the controller's informers have synced.
    let certificatesIssued!: () => void;
    const issued = new Promise<void>((resolve) => (certificatesIssued = resolve));
    const controllerStarted = ensureNamespace(kubeConfig, DefaultCdiNamespace).then(() =>
      startController({ kubeConfig, logger: o.logger, pollDigest: pollImageDigest, vmAccelerator: o.vmAccelerator ?? 'auto', onCertificatesIssued: certificatesIssued }),
    );
    const core = kubeConfig.makeApiClient(CoreV1Api);
    const proxyStarted = runUploadProxy({
      host: o.host,
      port: o.uploadProxyPort,
      tls: { cert: serving.cert, key: serving.key },
      kubeconfigPath: api.kubeconfigPath,
      core,
      cdiNamespace: DefaultCdiNamespace,
      publicKeyPem: api.uploadSigningKey.publicPem,
      localSocketDir: agent.socketDir,
      materialDir: path.join(o.dataDir, 'uploadproxy'),
      // a controller that fails before issuing fails the proxy's wait too
      clientIssued: Promise.race([issued, controllerStarted]),
      renewServing: () => uploadProxyServingCert(o.dataDir, proxyHostnames(o.host)),
      logger: o.logger.child({ component: 'uploadproxy' }),
    });
    const [controller, proxy] = await Promise.allSettled([controllerStarted, proxyStarted]);
    if (controller.status === 'fulfilled') closers.push(() => controller.value.stop());
    if (proxy.status === 'fulfilled') closers.push(() => proxy.value.close());
    if (controller.status === 'rejected') throw controller.reason;
    if (proxy.status === 'rejected') throw proxy.reason;
    await publishUploadProxy(kubeConfig, proxy.value.url, serving.caPem);
    return { apiUrl: api.url, kubeconfigPath: api.kubeconfigPath, uploadProxyUrl: proxy.value.url, close };
  } catch (err) {
    await close();
    throw err;
  }
}

function proxyHostnames(host: string): string[] {
  const names = new Set(['localhost', '127.0.0.1']);
  if (host && host !== '0.0.0.0' && host !== '::') names.add(host);
  return [...names];
}

/** CDI's operator writes where the upload proxy is into the CDIConfig status; clients read it there. */
async function publishUploadProxy(kubeConfig: KubeConfig, url: string, caPem: string): Promise<void> {
  const custom = kubeConfig.makeApiClient(CustomObjectsApi);
  await custom.patchClusterCustomObjectStatus(
    { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'cdiconfigs', name: 'config', body: { status: { uploadProxyURL: url, uploadProxyCA: caPem } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}
