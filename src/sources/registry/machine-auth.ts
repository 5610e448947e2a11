import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Credentials } from './auth.ts';

/**
 * The machine's container registry credentials, looked up as containers-auth.json(5) does: the
 * first auth file that has an entry for the registry wins. `cdi serve` pulls pullMethod node
 * images with them, as a kubelet pulls with its node's; they stay in the node agent's process and
 * never reach the API, a Secret or a worker's environment.
 */
export interface MachineCredentials {
  credentials?: Credentials;
  /** Where they came from, for the log. */
  file?: string;
  /** What was found but not used (credential helpers), to be said in an event. */
  skipped: string[];
}

/** The auth files in lookup order: $REGISTRY_AUTH_FILE replaces the runtime-dir file and the XDG one. */
export function authFilePaths(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) {
    files.push(env.REGISTRY_AUTH_FILE);
  } else {
    if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
    files.push(path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'containers', 'auth.json'));
  }
  files.push(path.join(env.DOCKER_CONFIG || path.join(home, '.docker'), 'config.json'));
  return files;
}

interface AuthFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** `https://index.docker.io/v1/` and `host/ns/repo` keys, compared as host[/path]. */
function normalizeKey(key: string): string {
  const schemeless = key.replace(/^https?:\/\//, '');
  // Docker's legacy keys carry a scheme and an API path: only the host counts in them.
  const normalized = key === schemeless ? schemeless : (schemeless.split('/')[0] ?? '');
  return normalized === 'index.docker.io' ? 'docker.io' : normalized;
}

/** host/repo, host/parent, …, host: the most specific entry wins. */
function scopes(host: string, repository: string): string[] {
  const registry = host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
  const parts = repository.split('/');
  const out: string[] = [];
  for (let n = parts.length; n > 0; n--) out.push(`${registry}/${parts.slice(0, n).join('/')}`);
  out.push(registry);
  return out;
}

function decode(entry: NonNullable<AuthFile['auths']>[string]): Credentials | undefined {
  if (entry.username !== undefined && entry.password !== undefined) return { user: entry.username, password: entry.password };
  if (!entry.auth) return undefined;
  const text = Buffer.from(entry.auth, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon > 0 ? { user: text.slice(0, colon), password: text.slice(colon + 1) } : undefined;
}

/**
 * Credentials for a registry from an image pull Secret's data, as the kubelet reads
 * `kubernetes.io/dockerconfigjson` (`.dockerconfigjson`: {auths}) and the legacy
 * `kubernetes.io/dockercfg` (`.dockercfg`: the auths map itself). Most specific entry wins.
 */
export function pullSecretCredentials(data: Readonly<Record<string, Buffer>>, host: string, repository: string): Credentials | undefined {
  let auths: AuthFile['auths'];
  try {
    if (data['.dockerconfigjson']) auths = (JSON.parse(data['.dockerconfigjson'].toString('utf8')) as AuthFile).auths;
    else if (data['.dockercfg']) auths = JSON.parse(data['.dockercfg'].toString('utf8')) as AuthFile['auths'];
  } catch {
    return undefined;
  }
  const byKey = new Map(Object.entries(auths ?? {}).map(([k, v]) => [normalizeKey(k), v] as const));
  for (const scope of scopes(host, repository)) {
    const entry = byKey.get(scope);
    const credentials = entry ? decode(entry) : undefined;
    if (credentials) return credentials;
  }
  return undefined;
}

export async function machineCredentials(host: string, repository: string, files: readonly string[] = authFilePaths()): Promise<MachineCredentials> {
  const skipped: string[] = [];
  const wanted = scopes(host, repository);
  for (const file of files) {
    let parsed: AuthFile;
    try {
      parsed = JSON.parse(await readFile(file, 'utf8')) as AuthFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      skipped.push(`${file} is not a readable auth file: ${(err as Error).message}`);
      continue;
    }
    const auths = new Map(Object.entries(parsed.auths ?? {}).map(([k, v]) => [normalizeKey(k), v] as const));
    for (const scope of wanted) {
      const helper = parsed.credHelpers?.[scope];
      if (helper) skipped.push(`${file} names credential helper docker-credential-${helper} for ${scope}; cdi serve does not run credential helpers`);
      const entry = auths.get(scope);
      if (!entry) continue;
      const credentials = decode(entry);
      if (credentials) return { credentials, file, skipped };
      skipped.push(`${file} has an entry for ${scope} without auth or username/password`);
    }
    if (parsed.credsStore) skipped.push(`${file} names credential store docker-credential-${parsed.credsStore}; cdi serve does not run credential helpers`);
  }
  return { skipped };
}
