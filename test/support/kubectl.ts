import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

/**
 * kubectl for tests: Debian's `kubernetes-client` package (kubectl 1.20), fetched with
 * `apt-get download` and unpacked with `dpkg -x` into .cache/kubectl/ once. Never /usr/bin/kubectl.
 * Each kubeconfig gets its own discovery cache beside it, so servers on reused ports never share one.
 */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../../.cache/kubectl');
const binary = path.join(root, 'usr/bin/kubectl');

let pending: Promise<string> | undefined;

async function install(): Promise<string> {
  if (existsSync(binary)) return binary;
  await mkdir(path.dirname(root), { recursive: true });
  const work = await mkdtemp(`${root}.tmp-`);
  try {
    await run('apt-get', ['download', 'kubernetes-client'], { cwd: work }).catch(async (err: unknown) => {
      // A machine whose apt lists were cleared cannot locate the package until they are fetched.
      if (process.getuid?.() !== 0) throw new Error(`apt-get download kubernetes-client failed (try: sudo apt-get update): ${String(err)}`);
      await run('apt-get', ['update', '-qq']);
      await run('apt-get', ['download', 'kubernetes-client'], { cwd: work });
    });
    const deb = (await readdir(work)).find((f) => f.startsWith('kubernetes-client_') && f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download kubernetes-client produced no .deb');
    const unpacked = path.join(work, 'root');
    await run('dpkg', ['-x', path.join(work, deb), unpacked]);
    // Another test process may have won the race; either copy is the same package.
    await rename(unpacked, root).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  if (!existsSync(binary)) throw new Error(`kubectl not found at ${binary} after extraction`);
  return binary;
}

/** The project's kubectl 1.20, installed on first use. */
export function kubectlPath(): Promise<string> {
  pending ??= install().catch((err: unknown) => {
    pending = undefined;
    throw err;
  });
  return pending;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Each kubectl binary gets its own discovery cache beside the kubeconfig (1.20's and 1.32's differ). */
function baseArgs(kubeconfig: string, bin = binary): string[] {
  const cache = bin === binary ? '.kube-cache' : '.kube-cache-machine';
  return ['--kubeconfig', kubeconfig, '--cache-dir', path.join(path.dirname(kubeconfig), cache)];
}

/** Runs kubectl against a kubeconfig; never throws on a non-zero exit (the test inspects `code`). */
export function kubectl(kubeconfig: string, ...args: string[]): Promise<KubectlResult> {
  return kubectlWithInput(kubeconfig, undefined, ...args);
}

/** Like kubectl(), with `input` on stdin (for `apply -f -`). */
export async function kubectlWithInput(kubeconfig: string, input: string | undefined, ...args: string[]): Promise<KubectlResult> {
  return runKubectl(await kubectlPath(), kubeconfig, input, ...args);
}

/**
 * The kubectl preinstalled on the machine (1.32 here), which sends protobuf bodies; used beside
 * the project's 1.20, never replaced. Undefined when the machine has none.
 */
export const machineKubectl: string | undefined = existsSync('/usr/bin/kubectl') ? '/usr/bin/kubectl' : undefined;

/** Runs a given kubectl binary against a kubeconfig; never throws on a non-zero exit. */
export function runKubectl(bin: string, kubeconfig: string, input: string | undefined, ...args: string[]): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...baseArgs(kubeconfig, bin), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input ?? '');
  });
}

/** Starts a long-running kubectl (`get -w`); the caller kills it. */
export async function spawnKubectl(kubeconfig: string, ...args: string[]): Promise<ChildProcess> {
  return spawn(await kubectlPath(), [...baseArgs(kubeconfig), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
}
