import { LocalEnv } from '../api/env.ts';
import { CdiError } from '../api/errors.ts';

/** CDI's workers serve on 8443 (metrics, or the upload server's API). */
export const workerPort = 8443;

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * Where a worker listens. In a pod, all addresses on 8443: the controller and the upload proxy
 * come from outside. Run by the local node agent (which sets CDI_LISTEN_PORT, 0 for any free
 * port), loopback only.
 */
export function listenAddress(env: NodeJS.ProcessEnv): ListenAddress {
  const local = env[LocalEnv.listenPort];
  if (local === undefined || local === '') return { host: '0.0.0.0', port: workerPort };
  const port = Number(local);
  if (!/^\d+$/.test(local) || port > 65535) throw new CdiError('CDI_ERR_WORKER_LISTEN_PORT', [LocalEnv.listenPort, local]);
  return { host: '127.0.0.1', port };
}
