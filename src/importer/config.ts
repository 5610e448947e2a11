import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ImporterEnv, LocalEnv, PodPaths, WorkerTuningEnv } from '../api/env.ts';
import { CdiError } from '../api/errors.ts';
import { parseQuantity } from '../api/quantity.ts';
import { envBool } from '../worker/env-bool.ts';
import { listenAddress, type ListenAddress } from '../worker/listen.ts';
import { terminationLogPath } from '../worker/termination.ts';

export type SourceKind = 'http' | 's3' | 'registry' | 'none';
export type TargetKind = 'file' | 'block' | 'directory';

/** Everything one import needs, from CDI's env contract (the worker) or from flags (`cdi import`). */
export interface ImportConfig {
  source: SourceKind;
  endpoint: string;
  contentType: 'kubevirt' | 'archive';
  /** The PVC request in bytes (IMPORTER_IMAGE_SIZE); undefined when unknown (CLI without --size). */
  imageSize?: number;
  accessKey?: string;
  secretKey?: string;
  certDir?: string;
  proxyCertDir?: string;
  insecureTls: boolean;
  extraHeaders: Array<[string, string]>;
  checksum?: string;
  /** IMPORTER_REGISTRY_IMAGE_ARCHITECTURE; unset means amd64 for indexes and no check of single images. */
  architecture?: string;
  preallocation: boolean;
  /** Fraction of a filesystem volume reserved for the filesystem (FILESYSTEM_OVERHEAD, e.g. 0.055). */
  filesystemOverhead: number;
  ownerUid: string;
  target: { kind: TargetKind; path: string };
  scratchDir?: string;
  /** Not in CDI: shortens the 10-minute idle watchdog for tests. */
  idleTimeoutMs?: number;
  /** IMPORTER_PULL_METHOD node: the pulled image's directory (the image volume). */
  imageDir?: string;
}

/** Worker-only settings: where the termination message goes and where metrics are served. */
export interface WorkerSettings {
  terminationLog: string;
  metrics: ListenAddress;
}

/** Not in CDI: the idle watchdog in seconds (tests shorten it). */
export const IdleTimeoutEnv = WorkerTuningEnv.importerIdleTimeout;

const sources: readonly string[] = ['http', 's3', 'registry', 'none'];

/** `Name: value` lines from IMPORTER_EXTRA_HEADER_<n>, in index order. */
export function extraHeadersFrom(env: NodeJS.ProcessEnv): Array<[string, string]> {
  return Object.entries(env)
    .filter(([k, v]) => k.startsWith(ImporterEnv.extraHeaderPrefix) && v)
    .sort(([a], [b]) => Number(a.slice(ImporterEnv.extraHeaderPrefix.length)) - Number(b.slice(ImporterEnv.extraHeaderPrefix.length)))
    .map(([, v]) => headerLine(v!, `extra header "${v}"`));
}

function headerLine(line: string, what: string): [string, string] {
  const colon = line.indexOf(':');
  if (colon <= 0) throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `${what} is not "Name: value"`]);
  return [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
}

/** The secretExtraHeaders directories: the local agent names them, a pod has /extraheaders/<i>. */
function secretHeaderDirs(env: NodeJS.ProcessEnv): string[] {
  const local = env[LocalEnv.secretExtraHeaderDirs];
  if (local) return JSON.parse(local) as string[];
  const root = PodPaths.secretExtraHeadersDir;
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((name) => /^\d+$/.test(name))
    .sort((a, b) => Number(a) - Number(b))
    .map((name) => path.join(root, name));
}

/**
 * CDI's secretExtraHeaders: every value of every Secret is one `Name: value` line. Kubernetes
 * mounts a Secret's keys as symlinks next to its `..data` entries, so dot-names are skipped and
 * links followed. A bad line names its file, never its content (it is a secret).
 */
export function secretExtraHeadersFrom(env: NodeJS.ProcessEnv): Array<[string, string]> {
  const headers: Array<[string, string]> = [];
  for (const dir of secretHeaderDirs(env)) {
    for (const name of readdirSync(dir).filter((n) => !n.startsWith('.')).sort()) {
      const file = path.join(dir, name);
      if (!statSync(file).isFile()) continue;
      headers.push(headerLine(readFileSync(file, 'utf8').trim(), `secret extra header ${file}`));
    }
  }
  return headers;
}

/** What kind of target a path is: an existing block device, a directory for archives, else a file. */
export function targetKindOf(path: string, contentType: 'kubevirt' | 'archive'): TargetKind {
  if (contentType === 'archive') return 'directory';
  try {
    return statSync(path).isBlockDevice() ? 'block' : 'file';
  } catch {
    return 'file';
  }
}

function defaultTarget(contentType: 'kubevirt' | 'archive'): string {
  if (contentType === 'archive') return PodPaths.dataDir;
  return existsSync(PodPaths.blockTarget) ? PodPaths.blockTarget : PodPaths.filesystemTarget;
}

export function parseSize(text: string | undefined, what: string): number | undefined {
  if (text === undefined || text === '') return undefined;
  const bytes = parseQuantity(text);
  if (bytes === undefined || bytes < 0) throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `${what} "${text}" is not a quantity`]);
  return bytes;
}

/** Reads CDI's importer environment (plus the local-run overrides of LocalEnv). */
export function configFromEnv(env: NodeJS.ProcessEnv): ImportConfig & WorkerSettings {
  const source = (env[ImporterEnv.source] ?? '').trim();
  if (!sources.includes(source)) throw new CdiError('CDI_ERR_UNKNOWN_SOURCE', [source]);
  const contentType = (env[ImporterEnv.contentType] || 'kubevirt').trim();
  if (contentType !== 'kubevirt' && contentType !== 'archive') {
    throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `unknown content type ${contentType}`]);
  }
  const overhead = Number(env[ImporterEnv.filesystemOverhead] || '0');
  if (!Number.isFinite(overhead) || overhead < 0 || overhead >= 1) {
    throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `${ImporterEnv.filesystemOverhead} "${env[ImporterEnv.filesystemOverhead]}" is not a fraction`]);
  }
  const targetPath = env[LocalEnv.target] || defaultTarget(contentType);
  const idle = Number(env[IdleTimeoutEnv] || '0');
  const optional = (name: string): string | undefined => env[name] || undefined;
  const imageSize = parseSize(env[ImporterEnv.imageSize], ImporterEnv.imageSize);
  const pullMethod = (env[ImporterEnv.pullMethod] || 'pod').trim();
  if (pullMethod !== 'pod' && pullMethod !== 'node') throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `unknown ${ImporterEnv.pullMethod} ${pullMethod}`]);
  if (pullMethod === 'node' && source !== 'registry') throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `${ImporterEnv.pullMethod} node needs ${ImporterEnv.source} registry, not ${source}`]);
  return {
    source: source as SourceKind,
    endpoint: (env[ImporterEnv.endpoint] ?? '').trim(),
    contentType,
    ...(imageSize !== undefined ? { imageSize } : {}),
    accessKey: optional(ImporterEnv.accessKeyId),
    secretKey: optional(ImporterEnv.secretKey),
    certDir: optional(ImporterEnv.certDir),
    proxyCertDir: optional(ImporterEnv.proxyCertDir),
    insecureTls: envBool(env, ImporterEnv.insecureTls),
    // CDI appends the secret ones after the plain ones.
    extraHeaders: [...extraHeadersFrom(env), ...secretExtraHeadersFrom(env)],
    checksum: optional(ImporterEnv.checksum),
    architecture: optional(ImporterEnv.registryArchitecture),
    preallocation: envBool(env, ImporterEnv.preallocation),
    filesystemOverhead: overhead,
    ownerUid: env[ImporterEnv.ownerUid] ?? '',
    target: { kind: targetKindOf(targetPath, contentType), path: targetPath },
    scratchDir: optional(LocalEnv.scratchDir) ?? (existsSync(PodPaths.scratchDir) ? PodPaths.scratchDir : undefined),
    ...(idle > 0 ? { idleTimeoutMs: idle * 1000 } : {}),
    ...(pullMethod === 'node' ? { imageDir: env[LocalEnv.imageVolumeDir] || PodPaths.imageVolume } : {}),
    terminationLog: terminationLogPath(env),
    metrics: listenAddress(env),
  };
}
