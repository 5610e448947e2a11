import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../api/logger.ts';
import { startApiServer } from '../../apiserver/index.ts';
import { startController } from '../../controller/index.ts';
import { startNodeAgent } from '../../node/agent.ts';
import { lockDataDir } from './data-dir.ts';

export interface ServeOptions {
  dataDir: string;
  host: string;
  port: number;
  uploadProxyPort: number;
  logger: Logger;
}

export interface ServeHandle {
  apiUrl: string;
  kubeconfigPath: string;
  /** Not yet: the upload proxy joins once uploadproxy/proxy is in the tree. */
  uploadProxyUrl: string | undefined;
  /** Stops everything in reverse start order; pods' processes end with the node agent. */
  close(): Promise<void>;
}

/**
 * The embedded control plane in one process tree: API server, node agent (worker pods become
 * child processes) and the DataVolume/VM controller.
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
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(api.kubeconfigPath);

    const agent = await startNodeAgent({ kubeConfig, dataDir: o.dataDir, logger: o.logger });
    closers.push(() => agent.close());
    const controller = await startController({ kubeConfig, logger: o.logger });
    closers.push(() => controller.stop());

    return { apiUrl: api.url, kubeconfigPath: api.kubeconfigPath, uploadProxyUrl: undefined, close };
  } catch (err) {
    await close();
    throw err;
  }
}
