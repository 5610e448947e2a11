/**
 * The suites' one way to run `cdi serve`: bin/cdi as a child process on a private data dir,
 * free ports (`--port 0`), ready when it logs "cdi serve is ready", restartable on the same dir
 * (kill -9 tests), with client-node clients from the kubeconfig it writes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { pooledKubeConfig } from '../../src/controller/kube.ts';

const root = path.resolve(import.meta.dirname, '../..');
export const cdiBin = path.join(root, 'bin/cdi');
const readyLine = 'cdi serve is ready';

/** `cdi serve`'s arguments for a data dir, with the API server and upload proxy on free ports. */
export function serveArgs(dataDir: string, extraArgs: readonly string[] = []): string[] {
  return ['serve', '--data-dir', dataDir, '--port', '0', '--upload-proxy-port', '0', ...extraArgs];
}

/**
 * Spawns `cdi serve` without waiting for it (stdout ignored, stderr piped). For a run expected to
 * fail at start; everything else wants startServe. CDI_SERVE_NODE_ARGS (e.g. "--cpu-prof
 * --cpu-prof-dir=/tmp/prof") runs it under node with those flags, to profile serve itself.
 */
export function spawnServe(dataDir: string, env: NodeJS.ProcessEnv = {}, extraArgs: readonly string[] = []): ChildProcess {
  const nodeArgs = process.env.CDI_SERVE_NODE_ARGS?.split(' ').filter(Boolean);
  const [command, argv] = nodeArgs?.length
    ? [process.execPath, [...nodeArgs, path.join(root, 'src/cli/main.ts'), ...serveArgs(dataDir, extraArgs)]]
    : [cdiBin, serveArgs(dataDir, extraArgs)];
  return spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
}

export function exitOf(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => p.once('exit', (code) => resolve(code)));
}

export interface Serve {
  dataDir: string;
  kubeconfig: string;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  /** The running `cdi serve` process (a new one after restart()). */
  readonly child: ChildProcess;
  /** Everything every run on this data dir wrote to stderr. */
  stderr(): string;
  kill9(): Promise<void>;
  /** Starts `cdi serve` again on the same data dir (after kill9, or after the old one exited). */
  restart(): Promise<void>;
  /** SIGINT (SIGKILL after 10 s), then removes the data dir. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** An existing data dir (kept by stop()); by default a fresh temp dir that stop() removes. */
  dataDir?: string;
  /** LOG_LEVEL of the run: warn by default, keeping stderr short. */
  logLevel?: string;
  /** How long to wait for the ready line. */
  readyTimeoutMs?: number;
  /** Flags after serve's own (e.g. `--vm-accelerator tcg`). */
  extraArgs?: readonly string[];
}

/** Resolves once `child` logs the ready line; rejects with its stderr if it exits first or times out. */
function ready(child: ChildProcess, log: () => string, timeoutMs: number): Promise<void> {
  const stderr = child.stderr!;
  const started = log().length;
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      stderr.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve();
    };
    const onData = () => {
      if (log().slice(started).includes(readyLine)) done();
    };
    const onExit = () => done(new Error(`cdi serve exited before it was ready:\n${log().slice(-4000)}`));
    const timer = setTimeout(() => done(new Error(`cdi serve was not ready after ${timeoutMs} ms:\n${log().slice(-4000)}`)), timeoutMs);
    stderr.on('data', onData);
    child.on('exit', onExit);
  });
}

export async function startServe(options: ServeOptions = {}): Promise<Serve> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), 'cdi-serve-')));
  const env = { LOG_LEVEL: options.logLevel ?? 'warn' };
  const timeoutMs = options.readyTimeoutMs ?? 120_000;
  let child: ChildProcess;
  let log = '';
  const launch = async () => {
    child = spawnServe(dataDir, env, options.extraArgs);
    child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const isReady = ready(child, () => log, timeoutMs);
    try {
      await isReady;
    } catch (err) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exitOf(child);
      }
      throw err;
    }
  };
  await launch();
  const kubeconfig = path.join(dataDir, 'kubeconfig');
  const clients = () => {
    const loaded = new KubeConfig();
    loaded.loadFromFile(kubeconfig);
    const kc = pooledKubeConfig(loaded);
    return { core: kc.makeApiClient(CoreV1Api), custom: kc.makeApiClient(CustomObjectsApi) };
  };
  const serve: Serve = {
    dataDir,
    kubeconfig,
    ...clients(),
    get child() {
      return child;
    },
    stderr: () => log,
    async kill9() {
      child.kill('SIGKILL');
      await exitOf(child);
    },
    async restart() {
      await launch();
      Object.assign(serve, clients());
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exitOf(child);
        clearTimeout(timer);
      }
      if (ownsDataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
  return serve;
}
