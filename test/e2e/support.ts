import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import type { DataVolume } from '../../src/api/datavolume.ts';
import { qemuImg } from '../support/qemu.ts';
import { pooledKubeConfig } from '../../src/controller/kube.ts';

/** `cdi serve` as a child process on a private data dir, restartable on the same dir (kill -9 tests). */
const root = path.resolve(import.meta.dirname, '../..');
const cdi = path.join(root, 'bin/cdi');

export interface Serve {
  dataDir: string;
  kubeconfig: string;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  stderr(): string;
  kill9(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function exitOf(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once('exit', () => resolve()));
}

/** `extraArgs` go after serve's own flags (e.g. `--vm-accelerator tcg`). */
export async function startServe(extraArgs: readonly string[] = []): Promise<Serve> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cdi-e2e-'));
  let child: ChildProcess;
  let log = '';
  const launch = async () => {
    const started = log.length;
    const args = ['serve', '--data-dir', dataDir, '--port', '0', '--upload-proxy-port', '0', ...extraArgs];
    // CDI_SERVE_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles serve itself.
    const nodeArgs = process.env.CDI_SERVE_NODE_ARGS?.split(' ').filter(Boolean);
    const [command, argv] = nodeArgs?.length ? [process.execPath, [...nodeArgs, path.join(root, 'src/cli/main.ts'), ...args]] : [cdi, args];
    child = spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn' } });
    child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
    const deadline = Date.now() + 60_000;
    while (!log.slice(started).includes('cdi serve is ready')) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`cdi serve did not become ready:\n${log.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 100));
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
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return serve;
}

export const dvRef = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes' };

export async function getDv(s: Serve, name: string, namespace = 'default'): Promise<DataVolume> {
  return (await s.custom.getNamespacedCustomObject({ ...dvRef, namespace, name })) as DataVolume;
}

export async function until<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function waitPhase(s: Serve, name: string, phase: string, timeoutMs = 60_000): Promise<DataVolume> {
  let seen = '';
  return until(
    async () => {
      const dv = await getDv(s, name);
      seen = `${dv.status?.phase} ${JSON.stringify(dv.status?.conditions?.find((c) => c.type === 'Running'))}`;
      if (phase !== 'Failed' && dv.status?.phase === 'Failed') throw new Error(`${name} Failed: ${seen}`);
      return dv.status?.phase === phase ? dv : undefined;
    },
    `${name} to reach ${phase} (now ${seen})`,
    timeoutMs,
  );
}

/** The volume's image file: `disk.img` in the bound volume's directory under the data dir. */
export async function volumeImage(s: Serve, claim: string, namespace = 'default'): Promise<string> {
  const pvc = await s.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace });
  const volume = (pvc.spec?.volumeName ?? '').replace(/^pvc-/, '');
  return path.join(s.dataDir, 'volumes', namespace, volume, 'disk.img');
}

/** sha256 of the first `length` bytes, and whether every byte after them is zero. */
export async function digestPrefix(file: string, length: number): Promise<{ sha256: string; restZero: boolean; size: number }> {
  const hash = createHash('sha256');
  let restZero = true;
  let offset = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const head = Math.max(0, Math.min(chunk.length, length - offset));
    if (head > 0) hash.update(chunk.subarray(0, head));
    if (head < chunk.length && !chunk.subarray(head).every((b) => b === 0)) restZero = false;
    offset += chunk.length;
  }
  return { sha256: hash.digest('hex'), restZero, size: (await stat(file)).size };
}

export async function virtualSize(image: string): Promise<number> {
  return (JSON.parse(await qemuImg('info', '--output', 'json', image)) as { 'virtual-size': number })['virtual-size'];
}

export function dvYaml(name: string, source: string, size = '64Mi', extra = ''): string {
  return `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ${name}
spec:
  source:
${source
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
  storage:
    resources:
      requests:
        storage: ${size}
${extra}`;
}
