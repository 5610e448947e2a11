/**
 * `node bench/worker-ready.ts`: how soon each worker is ready after spawn (issue 17's worker
 * floor, ≤ 0.3 s), started as the node agent starts it (data-path flags, NODE_COMPILE_CACHE,
 * warm after the first run). Ready means: the importer's metrics port accepts, or it asks its
 * HTTP source for the image; the upload server's port accepts; the cloner connects to its
 * upload server. `node -e 0` in the
 * same rounds is the floor; the machine is shared, so read the rows against it.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { dataPathNodeFlags } from '../src/api/runtime.ts';
import { issueCertificate } from '../src/cluster/pki/certificate.ts';

const here = path.resolve(import.meta.dirname, '..');
/** BENCH_WORKER_ROOT: time another checkout's workers (e.g. the commit before a change) with this script. */
const root = process.env.BENCH_WORKER_ROOT ? path.resolve(process.env.BENCH_WORKER_ROOT) : here;
const cache = path.join(here, '.cache', 'bench', `worker-ready-compile-${path.basename(root)}`);

export type WorkerName = 'floor' | 'importer (metrics)' | 'importer (source)' | 'upload server' | 'cloner';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function listen<T extends net.Server>(server: T): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function freePort(): Promise<number> {
  const s = net.createServer();
  return listen(s).then((port) => new Promise((resolve) => s.close(() => resolve(port))));
}

/** Resolves when a TCP connect to the port succeeds (polled every 5 ms). */
async function accepts(port: number, until: Promise<unknown>): Promise<void> {
  let over = false;
  void until.finally(() => (over = true));
  while (!over) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the worker exited before it listened');
}

const validity = { notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 86_400_000) };
const ca = issueCertificate({ commonName: 'bench-ca', usage: 'ca', ...validity });
const client = issueCertificate({ commonName: 'bench-client', usage: 'client', ...validity }, ca);

/** CPU milliseconds (user + system) a running process has used, from /proc (10 ms ticks). */
async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
}

export interface Ready {
  /** Wall milliseconds from spawn until ready. */
  wall: number;
  /** CPU milliseconds the worker used until then: much steadier than wall time on a shared machine. */
  cpu: number;
}

/** How long from spawn until the worker is ready; the worker is then killed. */
export async function readyMs(worker: WorkerName): Promise<Ready> {
  await mkdir(cache, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-ready-'));
  const base = { PATH: process.env.PATH ?? '', NODE_COMPILE_CACHE: cache, LOG_LEVEL: 'warn', CDI_TERMINATION_LOG: path.join(dir, 'termination') };
  let server: net.Server | undefined;
  try {
    let signal: (exited: Promise<void>) => Promise<void>;
    let argv: string[];
    let env: Record<string, string> = base;
    if (worker === 'floor') {
      argv = ['-e', '0'];
      signal = () => Promise.resolve();
    } else if (worker === 'importer (metrics)') {
      const port = await freePort();
      argv = [...dataPathNodeFlags, path.join(root, 'importer/main.ts')];
      // A source that never answers: the importer stays up, serving metrics.
      server = net.createServer(() => {});
      const source = await listen(server);
      env = { ...base, IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `http://127.0.0.1:${source}/disk.img`, CDI_TARGET_PATH: path.join(dir, 'disk.img'), CDI_LISTEN_PORT: String(port) };
      signal = (exited) => accepts(port, exited);
    } else if (worker === 'importer (source)') {
      let asked!: () => void;
      const request = new Promise<void>((resolve) => (asked = resolve));
      server = http.createServer((_req, res) => { asked(); res.writeHead(404).end(); });
      const port = await listen(server);
      argv = [...dataPathNodeFlags, path.join(root, 'importer/main.ts')];
      env = { ...base, IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `http://127.0.0.1:${port}/disk.img`, CDI_TARGET_PATH: path.join(dir, 'disk.img'), CDI_LISTEN_PORT: '0' };
      signal = () => request;
    } else if (worker === 'upload server') {
      const port = await freePort();
      argv = [...dataPathNodeFlags, path.join(root, 'uploadserver/main.ts')];
      env = { ...base, CDI_TARGET_PATH: path.join(dir, 'disk.img'), CDI_LISTEN_PORT: String(port), CDI_SCRATCH_DIR: dir };
      signal = (exited) => accepts(port, exited);
    } else {
      let connected!: () => void;
      const connection = new Promise<void>((resolve) => (connected = resolve));
      server = net.createServer((socket) => { connected(); socket.destroy(); });
      const port = await listen(server);
      argv = [...dataPathNodeFlags, path.join(root, 'importer/cloner.ts')];
      env = {
        ...base, SOURCE_PATH: path.join(root, 'package.json'), UPLOAD_URL: `https://127.0.0.1:${port}/v1beta1/upload`,
        CLIENT_KEY: client.keyPem, CLIENT_CERT: client.certPem, SERVER_CA_CERT: ca.certPem, OWNER_UID: 'uid', CDI_LISTEN_PORT: '0',
      };
      signal = () => connection;
    }
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, { env, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await (worker === 'floor' ? exited : Promise.race([signal(exited), exited.then(() => { throw new Error(`${worker} exited before it was ready`); })]));
    const wall = Number(process.hrtime.bigint() - start) / 1e6;
    // The floor has exited by now: its CPU is read from the exit of a twin that sleeps instead.
    const cpu = worker === 'floor' ? await floorCpu() : await cpuMs(child.pid!);
    child.kill('SIGKILL');
    await exited;
    return { wall, cpu };
  } finally {
    server?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** `node -e 0`'s CPU: the same start-up, then a pause so /proc can be read. */
async function floorCpu(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'process.stdout.write("up"); setTimeout(() => {}, 10_000)'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const cpu = await cpuMs(child.pid!);
  child.kill('SIGKILL');
  return cpu;
}

/** Each worker's ready times over `runs` rounds (one warm-up run each first). */
export async function readyRows(workers: readonly WorkerName[], runs: number): Promise<Map<WorkerName, Ready[]>> {
  const times = new Map<WorkerName, Ready[]>(workers.map((w) => [w, []]));
  for (const w of workers) await readyMs(w);
  for (let i = 0; i < runs; i++) for (const w of workers) times.get(w)!.push(await readyMs(w));
  return times;
}

export function printReadyRows(times: Map<WorkerName, Ready[]>): void {
  for (const [w, runs] of times) {
    const walls = runs.map((r) => r.wall);
    const cpus = runs.map((r) => r.cpu);
    console.log(`${`ready: ${w}`.padEnd(44)} ${median(walls).toFixed(0)} ms wall, ${median(cpus).toFixed(0)} ms cpu   (wall runs: ${walls.map((t) => t.toFixed(0)).join(', ')})`);
  }
}

if (import.meta.main) {
  printReadyRows(await readyRows(['floor', 'importer (metrics)', 'importer (source)', 'upload server', 'cloner'], Number(process.env.BENCH_RUNS ?? 5)));
}
