/**
 * The benchmark's inputs, built once and cached in .cache/bench: a 2 GiB raw image in 1 MiB
 * chunks (about half data taken from system binaries so it compresses, a quarter written zeros,
 * a quarter holes), and from it qcow2 (plain, zlib, zstd clusters), streamOptimized vmdk, VDI, VHD
 * and VHDX (dynamic, as qemu-img convert writes them), raw.gz, raw.xz and raw.zst.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const MiB = 1 << 20;
const chunks = 2048;

export const benchDir = path.resolve(import.meta.dirname, '../.cache/bench');

export interface BenchInputs {
  raw: string;
  qcow2: string;
  zlibQcow2: string;
  zstdQcow2: string;
  vdi: string;
  streamVmdk: string;
  vhd: string;
  vhdx: string;
  gz: string;
  xz: string;
  zst: string;
}

export type BenchInputName = keyof BenchInputs;

const names: Record<BenchInputName, string> = {
  raw: 'test.raw',
  qcow2: 'test.qcow2',
  zlibQcow2: 'test-zlib.qcow2',
  zstdQcow2: 'test-zstd.qcow2',
  vdi: 'test.vdi',
  streamVmdk: 'test-stream.vmdk',
  vhd: 'test.vhd',
  vhdx: 'test.vhdx',
  gz: 'test.raw.gz',
  xz: 'test.raw.xz',
  zst: 'test.raw.zst',
};

const at = (name: BenchInputName): string => path.join(benchDir, names[name]);

/** Every input, built as needed. */
export async function benchInputs(log: (line: string) => void): Promise<BenchInputs> {
  for (const name of Object.keys(names) as BenchInputName[]) await benchInput(name, log);
  return Object.fromEntries(Object.keys(names).map((name) => [name, at(name as BenchInputName)])) as unknown as BenchInputs;
}

/** One input (and the raw image it comes from), built if missing; returns its path. */
export async function benchInput(name: BenchInputName, log: (line: string) => void): Promise<string> {
  await mkdir(benchDir, { recursive: true });
  const raw = at('raw');
  await make(raw, log, buildRaw);
  const file = at(name);
  const qemuTo = (format: string, ...opts: string[]) => (tmp: string) => run('qemu-img', ['convert', '-f', 'raw', '-O', format, ...opts, raw, tmp]);
  const qemu = (...opts: string[]) => qemuTo('qcow2', ...opts);
  const vmdk = (subformat: string) => qemuTo('vmdk', '-o', `subformat=${subformat}`);
  const shell = (command: string) => (tmp: string) => run('sh', ['-c', `${command} -c "$0" > "$1"`, raw, tmp]);
  const builders: Record<BenchInputName, (tmp: string) => Promise<unknown>> = {
    raw: buildRaw,
    qcow2: qemu(),
    zlibQcow2: qemu('-c'),
    zstdQcow2: qemu('-c', '-o', 'compression_type=zstd'),
    vdi: qemuTo('vdi'),
    streamVmdk: vmdk('streamOptimized'),
    vhd: qemuTo('vpc'),
    vhdx: qemuTo('vhdx'),
    gz: shell('pigz -6'),
    // -T0 writes a multi-block file, so `xz -dc -T0` (reference and ours) can decode on every
    // core; preset 3 builds several times faster than 6 on two cores and decodes about as fast.
    xz: shell('xz -3 -T0'),
    zst: shell('zstd -3 -T0 -q'),
  };
  await make(file, log, builders[name]);
  return file;
}

/**
 * Builds one input unless it exists. Other benchmarks share these inputs and may run at the
 * same time: a lock file (created exclusively, holding our pid) makes one process build while
 * the others wait, and the build goes to a private file renamed into place.
 */
async function make(file: string, log: (line: string) => void, build: (tmp: string) => Promise<unknown>): Promise<void> {
  const lock = `${file}.lock`;
  while (!existsSync(file)) {
    const handle = await open(lock, 'wx').catch(() => undefined);
    if (handle === undefined) {
      if (!(await holderAlive(lock))) await rm(lock, { force: true });
      else await new Promise((resolve) => setTimeout(resolve, 2000));
      continue;
    }
    try {
      await handle.writeFile(String(process.pid));
      await handle.close();
      const started = Date.now();
      log(`building ${path.basename(file)} ...`);
      const tmp = `${file}.tmp-${process.pid}`;
      await build(tmp);
      await rename(tmp, file);
      log(`built ${path.basename(file)} (${(await stat(file)).size} bytes) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } finally {
      await rm(lock, { force: true });
    }
  }
}

async function holderAlive(lock: string): Promise<boolean> {
  const pid = Number(await readFile(lock, 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 0) {
    // Just created and not written yet, or left empty by a crash long ago.
    const info = await stat(lock).catch(() => undefined);
    return info !== undefined && Date.now() - info.mtimeMs < 10_000;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function buildRaw(tmp: string): Promise<void> {
  const corpus = await binaryCorpus(256 * MiB);
  const rng = mulberry32(42);
  const handle = await open(tmp, 'w');
  const zeros = Buffer.alloc(MiB);
  try {
    for (let i = 0; i < chunks; i++) {
      const r = rng();
      if (r < 0.5) {
        const from = (i * MiB) % corpus.byteLength;
        const chunk = Buffer.alloc(MiB, 1);
        corpus.copy(chunk, 0, from, Math.min(from + MiB, corpus.byteLength));
        await handle.write(chunk, 0, MiB, i * MiB);
      } else if (r < 0.75) {
        await handle.write(zeros, 0, MiB, i * MiB);
      }
    }
    await handle.truncate(chunks * MiB);
  } finally {
    await handle.close();
  }
}

/** Bytes of ELF binaries and libraries from this machine, concatenated in a stable order. */
async function binaryCorpus(size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/bin', '/usr/lib', '/usr/libexec']) {
    const names = (await readdir(dir).catch(() => [])).sort();
    for (const name of names) {
      if (have >= size) break;
      const file = path.join(dir, name);
      const info = await stat(file).catch(() => undefined);
      if (!info?.isFile() || info.size < 4096) continue;
      const bytes = await readFile(file);
      parts.push(bytes);
      have += bytes.byteLength;
    }
  }
  return Buffer.concat(parts).subarray(0, size);
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
