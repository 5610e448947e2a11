import { ClonerEnv, ImporterEnv, LauncherEnv, UploadServerEnv, WorkerTuningEnv } from '../api/env.ts';
import type { NodeKind } from '../api/images.ts';

/**
 * The environment each worker is built to read (CDI's contracts plus our tunables), and which of
 * those variables name a path inside the pod. Nothing else reaches a worker process: not
 * NODE_OPTIONS, LD_PRELOAD or PATH, and not the node agent's own CDI_* variables, which only
 * the agent sets, from the mounts.
 */
const proxyVars = ['http_proxy', 'https_proxy', 'no_proxy', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY'];

const allowed: Record<NodeKind, ReadonlySet<string>> = {
  importer: new Set([...Object.values(ImporterEnv), ...proxyVars, WorkerTuningEnv.importerIdleTimeout]),
  uploadServer: new Set([...Object.values(UploadServerEnv), ImporterEnv.ownerUid, WorkerTuningEnv.uploadResumeWindow]),
  cloner: new Set(Object.values(ClonerEnv)),
  virtLauncher: new Set([LauncherEnv.domain, LauncherEnv.consoleLog]),
  guestConsoleLog: new Set([LauncherEnv.consoleLog]),
};

const extraHeader = new RegExp(`^${ImporterEnv.extraHeaderPrefix}\\d+$`);

export function envNameAllowed(kind: NodeKind, name: string): boolean {
  if (kind === 'importer' && extraHeader.test(name)) return true;
  return name !== ImporterEnv.extraHeaderPrefix && allowed[kind].has(name);
}

/** Variables whose value is an in-pod path: they must lie inside one of the container's mounts. */
export const pathValuedEnv: Record<NodeKind, ReadonlySet<string>> = {
  importer: new Set([ImporterEnv.certDir, ImporterEnv.proxyCertDir]),
  uploadServer: new Set([UploadServerEnv.destination]),
  cloner: new Set([ClonerEnv.sourcePath]),
  virtLauncher: new Set([LauncherEnv.consoleLog]),
  guestConsoleLog: new Set([LauncherEnv.consoleLog]),
};
