/**
 * `node bench/worker-ready.ts`: how soon each worker is ready after spawn (issue 17's worker
 * floor, ≤ 0.3 s), started as the node agent starts it (src/node/container-process.ts): under
 * setpriv, with --disable-warning=ExperimentalWarning and the data-path flags, HOME/TMPDIR and
 * NODE_COMPILE_CACHE set, running the worker's bundle when it is fresh (src/node/worker-bundle.ts).
 * Each worker is timed on its bundle and on its TypeScript source, each with a cold compile cache
 * (a fresh directory: the first pod of a worker user) and a warm one (the cache a previous pod
 * left; workers are stopped with SIGTERM so they write it, as pods that end do). Ready means:
 * the importer's metrics port accepts, or it asks its HTTP source for the image; the upload
 * server's port accepts; the cloner connects to its upload server. `node -e 0` in the same rounds
 * is the floor; the machine is shared, so read the rows against it. BENCH_RUNS rounds (5).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { WorkerImages } from '../src/api/images.ts';
import { dataPathNodeFlags } from '../src/api/runtime.ts';
import { issueCertificate } from '../src/cluster/pki/certificate.ts';
import { findTool } from '../src/node/tools.ts';
import { checkWorkerBundle } from '../src/node/worker-bundle.ts';
import { setprivArgs } from '../src/node/worker-privileges.ts';

const here = path.resolve(import.meta.dirname, '..');
/** BENCH_WORKER_ROOT: time another checkout's workers (e.g. the commit before a change) with this script. */
const root = process.env.BENCH_WORKER_ROOT ? path.resolve(process.env.BENCH_WORKER_ROOT) : here;

export type WorkerName = 'floor' | 'importer (metrics)' | 'importer (source)' | 'upload server' | 'cloner';

/** What runs (the agent's bundle or the TypeScript source) and how warm Node's compile cache is. */
export interface Variant {
  code: 'bundle' | 'source';
  cache: 'cold' | 'warm';
}

const warmCache = (variant: Variant): string => path.join(here, '.cache', 'bench', `worker-ready-compile-${path.basename(root)}-${variant.code}`);

const entries: Record<Exclude<WorkerName, 'floor'>, string> = {
  'importer (metrics)': WorkerImages.importer.entry,
  'importer (source)': WorkerImages.importer.entry,
  'upload server': WorkerImages.uploadServer.entry,
  cloner: WorkerImages.cloner.entry,
};

/** The script the node agent would run; a bundle row refuses a stale or missing bundle. */
async function entryFor(worker: Exclude<WorkerName, 'floor'>, variant: Variant): Promise<string> {
  const entry = entries[worker];
  if (variant.code === 'source') return path.join(root, entry);
  const check = await checkWorkerBundle(root, entry);
  if (!check.fresh) throw new Error(`${check.why}: run npm run build:workers`);
  return check.file;
}

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

/** How long from spawn until the worker is ready; the worker is then stopped with SIGTERM. */
export async function readyMs(worker: WorkerName, variant: Variant = { code: 'bundle', cache: 'warm' }): Promise<Ready> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-ready-'));
  const cache = variant.cache === 'warm' ? warmCache(variant) : path.join(dir, 'compile-cache');
  await mkdir(cache, { recursive: true, mode: 0o700 });
  const base = {
    PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: dir, NODE_COMPILE_CACHE: cache, LOG_LEVEL: 'warn', CDI_TERMINATION_LOG: path.join(dir, 'termination'),
  };
  let server: net.Server | undefined;
  const held: net.Socket[] = [];
  try {
    let signal: (exited: Promise<void>) => Promise<void>;
    let args: string[];
    let env: Record<string, string> = base;
    if (worker === 'floor') {
      args = ['-e', '0'];
      signal = () => Promise.resolve();
    } else {
      args = ['--disable-warning=ExperimentalWarning', ...dataPathNodeFlags, await entryFor(worker, variant)];
      if (worker === 'importer (metrics)') {
        const port = await freePort();
        // A source that never answers: the importer stays up, serving metrics.
        server = net.createServer(() => {});
        const source = await listen(server);
        env = { ...base, IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `http://127.0.0.1:${source}/disk.img`, CDI_TARGET_PATH: path.join(dir, 'disk.img'), CDI_LISTEN_PORT: String(port) };
        signal = (exited) => accepts(port, exited);
      } else if (worker === 'importer (source)') {
        let asked!: () => void;
        const request = new Promise<void>((resolve) => (asked = resolve));
        // The request is left unanswered: the importer stays up until it is stopped, so its CPU can be read.
        server = http.createServer(() => asked());
        const port = await listen(server);
        env = { ...base, IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `http://127.0.0.1:${port}/disk.img`, CDI_TARGET_PATH: path.join(dir, 'disk.img'), CDI_LISTEN_PORT: '0' };
        signal = () => request;
      } else if (worker === 'upload server') {
        const port = await freePort();
        env = { ...base, CDI_TARGET_PATH: path.join(dir, 'disk.img'), CDI_LISTEN_PORT: String(port), CDI_SCRATCH_DIR: dir };
        signal = (exited) => accepts(port, exited);
      } else {
        let connected!: () => void;
        const connection = new Promise<void>((resolve) => (connected = resolve));
        // The connection is held, not cut: a cloner whose POST failed would exit before its CPU is read.
        server = net.createServer(() => connected());
        const port = await listen(server);
        env = {
          ...base, SOURCE_PATH: path.join(root, 'package.json'), UPLOAD_URL: `https://127.0.0.1:${port}/v1beta1/upload`,
          CLIENT_KEY: client.keyPem, CLIENT_CERT: client.certPem, SERVER_CA_CERT: ca.certPem, OWNER_UID: 'uid', CDI_LISTEN_PORT: '0',
        };
        signal = () => connection;
      }
    }
    // As the node agent starts a worker: setpriv (here without a user switch), then node.
    const setpriv = worker === 'floor' ? undefined : await findTool('setpriv');
    const argv = setpriv ? [setpriv, ...setprivArgs({ mode: 'unprivileged', why: 'bench' }), process.execPath, ...args] : [process.execPath, ...args];
    server?.on('connection', (socket: net.Socket) => held.push(socket));
    const start = process.hrtime.bigint();
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await (worker === 'floor' ? exited : Promise.race([signal(exited), exited.then(() => { throw new Error(`${worker} exited before it was ready`); })]));
    const wall = Number(process.hrtime.bigint() - start) / 1e6;
    // The floor has exited by now: its CPU is read from the exit of a twin that sleeps instead.
    const cpu = worker === 'floor' ? await floorCpu() : await cpuMs(child.pid!);
    // SIGTERM, as the agent stops a pod: the worker exits through its handler and Node writes the compile cache.
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    return { wall, cpu };
  } finally {
    server?.close();
    for (const socket of held) socket.destroy();
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

export const allVariants: readonly Variant[] = [
  { code: 'bundle', cache: 'warm' }, { code: 'bundle', cache: 'cold' }, { code: 'source', cache: 'warm' }, { code: 'source', cache: 'cold' },
];

const rowName = (w: WorkerName, v: Variant): string => (w === 'floor' ? w : `${w}, ${v.code}, ${v.cache} cache`);

/** Each worker's ready times per variant over `runs` rounds (one warm-up run each first: it fills the warm caches). */
export async function readyRows(workers: readonly WorkerName[], runs: number, variants: readonly Variant[] = [{ code: 'bundle', cache: 'warm' }]): Promise<Map<string, Ready[]>> {
  const cases = workers.flatMap((w): { w: WorkerName; v: Variant }[] => (w === 'floor' ? [{ w, v: variants[0]! }] : variants.map((v) => ({ w, v }))));
  const times = new Map<string, Ready[]>(cases.map(({ w, v }) => [rowName(w, v), []]));
  for (const { w, v } of cases) await readyMs(w, v);
  for (let i = 0; i < runs; i++) for (const { w, v } of cases) times.get(rowName(w, v))!.push(await readyMs(w, v));
  return times;
}

export function printReadyRows(times: Map<string, Ready[]>): void {
  for (const [name, runs] of times) {
    const walls = runs.map((r) => r.wall);
    const cpus = runs.map((r) => r.cpu);
    console.log(`${`ready: ${name}`.padEnd(52)} ${median(walls).toFixed(0)} ms wall, ${median(cpus).toFixed(0)} ms cpu   (wall runs: ${walls.map((t) => t.toFixed(0)).join(', ')})`);
  }
}

if (import.meta.main) {
  const before = os.loadavg()[0]!.toFixed(2);
  const code = process.env.BENCH_CODE;
  const variants = allVariants.filter((v) => !code || v.code === code);
  printReadyRows(await readyRows(['floor', 'importer (metrics)', 'importer (source)', 'upload server', 'cloner'], Number(process.env.BENCH_RUNS ?? 5), variants));
  console.log(`load average ${before} before, ${os.loadavg()[0]!.toFixed(2)} after`);
}
