/**
 * `npm run bench:import`: a 2 GiB qcow2 (half data) served by nginx and by docker-registry.
 * Ours (the importer worker as a child process: its bundle, as the node agent runs it) against
 * CDI's ways of doing the same:
 *   http:     curl to scratch + `qemu-img convert -O raw`     (want ratio ≤ 0.6)
 *             nbdkit curl plugin feeding `qemu-img convert`     (want ≤ 0.8)
 *             `curl -o /dev/null` of the same file              (want ≤ 1.5)
 *   registry: `skopeo copy` to a dir + untar + qemu-img convert (want ≤ 0.7)
 * and the worker's peak RSS (want ≤ 150 MiB), and the importer's ready time after spawn (want ≤ 0.3 s). 5 rounds, each method once per round in turn;
 * ratios are medians of per-round ratios; outputs removed and synced between runs (not timed). Like CDI's importer (and ours), the references end with an fsync
 * of the raw disk they wrote.
 */
import { execFile, spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { access, chown, mkdir, open, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { WorkerImages } from '../src/api/images.ts';
import { dataPathNodeFlags } from '../src/api/runtime.ts';
import { ImageUser } from '../src/node/pod-plan.ts';
import { checkWorkerBundle } from '../src/node/worker-bundle.ts';
import { isRoot, setprivArgs } from '../src/node/worker-privileges.ts';
import { startNginx } from '../test/support/nginx.ts';
import { printReadyRows, readyRows } from './worker-ready.ts';
import { buildOciLayoutFromFile, startRegistry } from '../test/support/registry.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, '.cache', 'bench', 'import');
const out = path.join(dir, 'out');
const MiB = 1 << 20;
const runs = Number(process.env.BENCH_RUNS ?? 5);

const exists = (f: string): Promise<boolean> => access(f).then(() => true, () => false);
const sh = async (cmd: string): Promise<string> => (await run('sh', ['-c', cmd], { maxBuffer: 1 << 26 })).stdout;

/** The baseline image: 2 GiB in 1 MiB chunks, ~50% random data, ~25% written zeros, ~25% holes. */
async function makeImage(): Promise<void> {
  await mkdir(dir, { recursive: true });
  if (await exists(path.join(dir, 'test.qcow2'))) return;
  console.log('making the 2 GiB test image…');
  const fh = await open(path.join(dir, 'test.raw'), 'w');
  let seed = 42;
  const next = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const data = Buffer.alloc(MiB);
  const zeros = Buffer.alloc(MiB);
  for (let i = 0; i < 2048; i++) {
    const r = next();
    if (r < 0.5) await fh.write(randomFillSync(data), 0, MiB, i * MiB);
    else if (r < 0.75) await fh.write(zeros, 0, MiB, i * MiB);
  }
  await fh.truncate(2048 * MiB);
  await fh.close();
  await run('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', path.join(dir, 'test.raw'), path.join(dir, 'test.qcow2')]);
  await rm(path.join(dir, 'test.raw'));
}

async function ensureNbdkit(): Promise<boolean> {
  if (await sh('command -v nbdkit || true')) return true;
  console.log('installing nbdkit (apt-get)…');
  const sudo = process.getuid?.() === 0 ? '' : 'sudo ';
  await sh(`${sudo}apt-get install -y --no-install-recommends nbdkit >/dev/null 2>&1 || (${sudo}apt-get update >/dev/null && ${sudo}apt-get install -y --no-install-recommends nbdkit >/dev/null)`).catch(() => '');
  return Boolean(await sh('command -v nbdkit || true'));
}

/** As root the worker runs as the node agent starts it: the image's user, no capabilities, no_new_privs. */
const dropped = isRoot() ? setprivArgs({ mode: 'drop', user: { uid: ImageUser, gid: ImageUser, groups: [] } }) : undefined;

async function clean(): Promise<void> {
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  if (dropped) await chown(out, ImageUser, ImageUser);
  await sh('sync');
}

/** Wall seconds of one run of `fn`, after a clean output directory. */
async function timed(fn: () => Promise<void>): Promise<number> {
  await clean();
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU seconds (user + sys) of the commands of the current run; the machine is shared, so wall time alone misleads. */
let runCpu = 0;

/** Runs a command under GNU time, adding its CPU seconds to the run; returns its peak RSS in KiB. */
async function timedCommand(command: string, args: string[]): Promise<number> {
  const { stderr } = await run('/usr/bin/time', ['-f', 'TIME %U %S %M', command, ...args], { maxBuffer: 1 << 26 });
  const m = /TIME ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr);
  if (!m) throw new Error(`no timing from ${command}: ${stderr}`);
  runCpu += Number(m[1]) + Number(m[2]);
  return Number(m[3]);
}

interface Method {
  name: string;
  fn: () => Promise<void>;
  walls: number[];
  cpus: number[];
}

/**
 * Runs every method once per round, in turn, for `runs` rounds: the machine's slow spells (this
 * is a shared 2-core machine, and freeing the last run's gigabyte keeps the disk busy) fall on
 * ours and the references alike, and each ratio is the median of per-round ratios.
 */
async function rounds(methods: Method[]): Promise<void> {
  for (let i = 0; i < runs; i++) {
    for (const m of methods) {
      runCpu = 0;
      m.walls.push(await timed(m.fn));
      m.cpus.push(runCpu);
    }
  }
  for (const m of methods) {
    console.log(`${m.name.padEnd(44)} ${median(m.walls).toFixed(2)} s wall, ${median(m.cpus).toFixed(2)} s cpu   (wall runs: ${m.walls.map((t) => t.toFixed(2)).join(', ')})`);
  }
}

const method = (name: string, fn: () => Promise<void>): Method => ({ name, fn, walls: [], cpus: [] });
const perRound = (a: number[], b: number[]): number => median(a.map((x, i) => x / b[i]!));

/** CDI's importer fsyncs the target before it reports success, as ours does: the references pay for it too. */
async function durable(): Promise<void> {
  await timedCommand('sync', ['-d', path.join(out, 'disk.img')]);
}

let peakRssKiB = 0;

// The importer as the node agent starts it: its bundle when fresh, else the source.
const importerBundle = await checkWorkerBundle(root, WorkerImages.importer.entry);
const importerEntry = importerBundle.fresh ? importerBundle.file : path.join(root, WorkerImages.importer.entry);
if (!importerBundle.fresh) console.log(`importer from source: ${importerBundle.why}`);

/** The importer worker as a child process with the flags its pods get, under GNU time for its peak RSS. */
async function worker(env: Record<string, string>, nodeFlags: readonly string[] = dataPathNodeFlags): Promise<number> {
  const target = path.join(out, 'disk.img');
  const cache = path.join(dir, 'node-compile-cache', String(dropped ? ImageUser : (process.getuid?.() ?? 0)));
  await mkdir(cache, { recursive: true });
  if (dropped) await chown(cache, ImageUser, ImageUser);
  const argv = [...(dropped ? ['setpriv', ...dropped] : []), process.execPath, ...nodeFlags, importerEntry];
  const child = spawn('/usr/bin/time', ['-f', 'TIME %U %S %M', ...argv], {
    // NODE_COMPILE_CACHE as the node agent starts workers (ADR 0016): warm after the first run.
    env: { PATH: process.env.PATH ?? '', NODE_COMPILE_CACHE: cache, CDI_TARGET_PATH: target, CDI_TERMINATION_LOG: path.join(out, 'termination'), CDI_LISTEN_PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => { stderr += t; });
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`worker failed (${code}): ${stderr}`);
  const m = /TIME ([\d.]+) ([\d.]+) (\d+)\s*$/.exec(stderr);
  if (!m) throw new Error(`no timing from the worker: ${stderr}`);
  runCpu += Number(m[1]) + Number(m[2]);
  peakRssKiB = Math.max(peakRssKiB, Number(m[3]));
  return Number(m[3]);
}

async function main(): Promise<void> {
  await makeImage();
  const layout = path.join(dir, 'oci');
  if (!(await exists(path.join(layout, 'index.json')))) {
    console.log('building the containerDisk layout (pigz)…');
    await buildOciLayoutFromFile(layout, 'v1', path.join(dir, 'test.qcow2'), 'disk/disk.qcow2');
  }
  const nbdkit = await ensureNbdkit();
  const loadBefore = os.loadavg()[0]!.toFixed(1);
  const nginx = await startNginx({ root: dir });
  const registry = await startRegistry();
  try {
    await registry.push(layout, 'v1', 'bench');
    const url = `${nginx.plain}/test.qcow2`;
    const results: Array<{ name: string; wall: number; cpu: number; want: number }> = [];
    const ratio = (name: string, ours: Method, ref: Method, want: number): void => {
      results.push({ name, wall: perRound(ours.walls, ref.walls), cpu: perRound(ours.cpus, ref.cpus), want });
    };
    const ours = method('ours: importer http → file', async () => { await worker({ IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: url }); });
    const cdiWay = method('curl → scratch + qemu-img convert -O raw', async () => {
      await timedCommand('curl', ['-sf', '-o', path.join(out, 'scratch.qcow2'), url]);
      await timedCommand('qemu-img', ['convert', '-O', 'raw', path.join(out, 'scratch.qcow2'), path.join(out, 'disk.img')]);
      await durable();
    });
    const viaNbd = method('nbdkit curl → qemu-img convert -O raw', async () => {
      await timedCommand('nbdkit', ['-U', '-', 'curl', `url=${url}`, '--run', `qemu-img convert -O raw "$uri" ${path.join(out, 'disk.img')}`]);
      await durable();
    });
    const curlNull = method('curl -o /dev/null', async () => { await timedCommand('curl', ['-sf', '-o', '/dev/null', url]); });
    // Not a reference to beat but the disk's floor: any durable import writes the image's data
    // (~1.1 GB here) and syncs it; curl -o /dev/null writes nothing.
    const dataMiB = Math.ceil((await stat(path.join(dir, 'test.qcow2'))).size / MiB);
    const diskFloor = method(`dd ${dataMiB} MiB + fdatasync (disk floor)`, async () => {
      await timedCommand('dd', ['if=/dev/zero', `of=${path.join(out, 'disk.img')}`, 'bs=1M', `count=${dataMiB}`, 'conv=fdatasync', 'status=none']);
    });
    const oursRegistry = method('ours: importer registry → file', async () => {
      await worker({ IMPORTER_SOURCE: 'registry', IMPORTER_ENDPOINT: `docker://${registry.host}/bench:v1`, INSECURE_TLS: 'true' });
    });
    const skopeoWay = method('skopeo copy dir: + untar + qemu-img convert', async () => {
      const copy = path.join(out, 'image');
      await timedCommand('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${registry.host}/bench:v1`, `dir:${copy}`]);
      const files = await readdir(copy);
      const manifest = JSON.parse(await sh(`cat ${path.join(copy, 'manifest.json')}`)) as { layers: Array<{ digest: string }> };
      const layer = manifest.layers[0]!.digest.replace('sha256:', '');
      if (!files.includes(layer)) throw new Error('layer blob missing from skopeo dir');
      await mkdir(path.join(out, 'rootfs'));
      await timedCommand('tar', ['-xf', path.join(copy, layer), '-C', path.join(out, 'rootfs')]);
      await timedCommand('qemu-img', ['convert', '-O', 'raw', path.join(out, 'rootfs', 'disk', 'disk.qcow2'), path.join(out, 'disk.img')]);
      await durable();
    });
    if (!nbdkit) console.log('nbdkit is not available: that comparison is skipped');
    await rounds([ours, cdiWay, ...(nbdkit ? [viaNbd] : []), curlNull, diskFloor, oursRegistry, skopeoWay]);
    // Speed counts only for the right bytes: our disks against the image, by qemu-img (not timed).
    await clean();
    await ours.fn();
    await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', path.join(out, 'disk.img'), path.join(dir, 'test.qcow2')]);
    await clean();
    await oursRegistry.fn();
    await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'qcow2', path.join(out, 'disk.img'), path.join(dir, 'test.qcow2')]);
    ratio('http vs curl + qemu-img convert', ours, cdiWay, 0.6);
    if (nbdkit) ratio('http vs nbdkit curl + qemu-img convert', ours, viaNbd, 0.8);
    ratio('http vs curl -o /dev/null', ours, curlNull, 1.5);
    ratio('registry vs skopeo + untar + qemu-img convert', oursRegistry, skopeoWay, 0.7);
    console.log(`  (the disk floor alone is ${perRound(diskFloor.walls, curlNull.walls).toFixed(2)}x curl -o /dev/null; ours is ${perRound(ours.walls, diskFloor.walls).toFixed(2)}x the disk floor)`);
    console.log(`\nratios (ours / reference; lower is better), load average ${loadBefore} before, ${os.loadavg()[0]!.toFixed(1)} after:`);
    for (const r of results) {
      console.log(`  ${r.name.padEnd(48)} wall ${r.wall.toFixed(2)} (want ≤ ${r.want}) ${r.wall <= r.want ? 'ok' : 'MISSED'}   cpu ${r.cpu.toFixed(2)}`);
    }
    const rssMiB = peakRssKiB / 1024;
    console.log(`  ${'worker peak RSS'.padEnd(48)} ${rssMiB.toFixed(0)} MiB  (want ≤ 150) ${rssMiB <= 150 ? 'ok' : 'MISSED'}`);
    // Issue 17's worker floor: ready ≤ 0.3 s after spawn, read against `node -e 0` in the same rounds.
    console.log('\nimporter start-up (bench/worker-ready.ts; want ready ≤ 300 ms on an idle machine):');
    printReadyRows(await readyRows(['floor', 'importer (metrics)', 'importer (source)'], runs));
    await writeFile(path.join(dir, 'last-results.json'), JSON.stringify({ results, peakRssMiB: rssMiB }, null, 2));
  } finally {
    await registry.stop();
    await nginx.stop();
    await rm(out, { recursive: true, force: true });
  }
}

await main();
