import { ClonerEnv } from '../api/env.ts';
import { CdiError } from '../api/errors.ts';
import { listenAddress, type ListenAddress } from '../worker/listen.ts';

/** The clone source's env contract (CDI's cdi-cloner names plus SOURCE_PATH and UPLOAD_SERVER_NAME of ours). */
export interface ClonerConfig {
  sourcePath: string;
  uploadUrl: URL;
  /** The name the upload server's certificate carries when UPLOAD_URL names it by address. */
  serverName: string | undefined;
  clientKey: string;
  clientCert: string;
  serverCaCert: string;
  ownerUid: string;
  metrics: ListenAddress;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new CdiError('CDI_ERR_WORKER_ENV_MISSING', [name]);
  return value;
}

export function clonerConfigFromEnv(env: NodeJS.ProcessEnv): ClonerConfig {
  const url = required(env, ClonerEnv.uploadUrl);
  let uploadUrl: URL;
  try {
    uploadUrl = new URL(url);
  } catch {
    throw new CdiError('CDI_ERR_USAGE', [`${ClonerEnv.uploadUrl} "${url}" is not a URL`]);
  }
  return {
    sourcePath: required(env, ClonerEnv.sourcePath),
    uploadUrl,
    serverName: env[ClonerEnv.serverName] || undefined,
    clientKey: required(env, ClonerEnv.clientKey),
    clientCert: required(env, ClonerEnv.clientCert),
    serverCaCert: required(env, ClonerEnv.serverCaCert),
    ownerUid: env[ClonerEnv.ownerUid] ?? '',
    metrics: listenAddress(env),
  };
}
