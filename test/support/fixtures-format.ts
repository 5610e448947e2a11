/**
 * Images for the format engine's end-to-end tests, generated with qemu-img and the compression
 * tools on first use and cached under .cache/fixtures/format-v1. Generation happens in a
 * private directory that is renamed into place, so test files running in parallel never see a
 * half-built set.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { fixtureCache, qemuImg, sha256File } from './qemu.ts';

const sh = promisify(execFile);
const MiB = 1 << 20;
const KiB = 1 << 10;

export interface FormatFixtures {
  readonly dir: string;
  /** Image name → sha256 of `qemu-img convert -O raw` of it (raw images: of the file itself). */
  readonly reference: Record<string, string>;
  file(name: string): string;
}

/** The images every conversion test runs over; each also exists as NAME.gz, NAME.xz and NAME.zst. */
export const images = ['small.raw', 'small.iso', 'small.qcow2', 'small-zlib.qcow2', 'small-zstd.qcow2'] as const;
/** Small enough to feed one byte at a time. */
export const tinyImages = ['tiny.qcow2', 'tiny-zlib.qcow2', 'tiny.raw'] as const;
export const compressions = ['', '.gz', '.xz', '.zst'] as const;

const version = 'format-v1';
let cached: Promise<FormatFixtures> | undefined;

export function formatFixtures(): Promise<FormatFixtures> {
  cached ??= load();
  return cached;
}

async function load(): Promise<FormatFixtures> {
  const dir = path.join(fixtureCache, version);
  if (!existsSync(path.join(dir, 'reference.json'))) await build(dir);
  const reference = JSON.parse(await readFile(path.join(dir, 'reference.json'), 'utf8')) as Record<string, string>;
  return { dir, reference, file: (name) => path.join(dir, name) };
}

async function build(dir: string): Promise<void> {
  const work = `${dir}.tmp-${process.pid}`;
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  const at = (name: string): string => path.join(work, name);

  await writeSparse(at('small.raw'), smallLayout(), 1);
  await writeSparse(at('tiny.raw'), tinyLayout(), 2);
  await writeFile(at('small.iso'), isoImage());
  await writeFile(at('odd.raw'), patterned(12_345, 3));
  for (const [name, from, opts] of [
    ['small.qcow2', 'small.raw', []],
    ['small-zlib.qcow2', 'small.raw', ['-c']],
    ['small-zstd.qcow2', 'small.raw', ['-c', '-o', 'compression_type=zstd']],
    ['tiny.qcow2', 'tiny.raw', ['-o', 'cluster_size=4096']],
    ['tiny-zlib.qcow2', 'tiny.raw', ['-c', '-o', 'cluster_size=4096']],
  ] as const) {
    await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', ...opts, at(from), at(name));
  }
  for (const name of [...images, ...tinyImages]) {
    await sh('sh', ['-c', `pigz -6 -c "$0" > "$0.gz" && xz -T0 --block-size=1MiB -c "$0" > "$0.xz" && zstd -q -c "$0" > "$0.zst"`, at(name)]);
  }
  // A monolithicSparse vmdk, and formats that are detected and refused (vmdk: a descriptor naming its flat extent beside it).
  await qemuImg('convert', '-f', 'raw', '-O', 'vmdk', at('tiny.raw'), at('tiny.vmdk'));
  await qemuImg('convert', '-f', 'raw', '-O', 'vpc', at('tiny.raw'), at('tiny.vhd'));
  await qemuImg('convert', '-f', 'raw', '-O', 'vhdx', at('tiny.raw'), at('tiny.vhdx'));
  await qemuImg('convert', '-f', 'raw', '-O', 'vdi', at('tiny.raw'), at('tiny.vdi'));
  await qemuImg('create', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', at('flat.vmdk'), '1M');
  await writeFile(at('empty.raw'), new Uint8Array(0));
  await sh('sh', ['-c', `printf '' | gzip -c > "$0"`, at('empty.gz')]);
  // Bombs: tiny compressed files that inflate far past any test capacity.
  await sh('sh', ['-c', `head -c 256M /dev/zero | tr '\\0' '\\252' | pigz -9 -c > "$0"`, at('bomb.gz')]);
  await sh('sh', ['-c', `head -c 256M /dev/zero | xz -T0 -0 -c > "$0"`, at('bomb.xz')]);
  await sh('sh', ['-c', `head -c 256M /dev/zero | tr '\\0' '\\252' | zstd -q -19 -c > "$0"`, at('bomb.zst')]);

  const reference: Record<string, string> = {};
  for (const name of [...images, ...tinyImages, 'odd.raw']) {
    if (name.endsWith('.qcow2')) {
      await qemuImg('convert', '-O', 'raw', at(name), at('ref.tmp'));
      reference[name] = await sha256File(at('ref.tmp'));
      await rm(at('ref.tmp'));
    } else {
      reference[name] = await sha256File(at(name));
    }
  }
  await writeFile(at('reference.json'), JSON.stringify(reference, null, 2));
  await rename(work, dir).catch(async () => {
    // Another test file built the set first: use theirs.
    await rm(work, { recursive: true, force: true });
  });
}

type Chunk = 'data' | 'text' | 'zeros' | 'hole';

/** 6 MiB + 64 KiB + 512 B: data, compressible text, written zeros and holes in 64 KiB chunks, ending on a partial chunk. */
function smallLayout(): { size: number; chunk: number; kinds: Chunk[] } {
  const chunk = 64 * KiB;
  const size = 6 * MiB + 64 * KiB + 512;
  const kinds: Chunk[] = [];
  const rng = xorshift(42);
  for (let at = 0; at < size; at += chunk) {
    const r = rng() / 2 ** 32;
    kinds.push(r < 0.3 ? 'data' : r < 0.55 ? 'text' : r < 0.75 ? 'zeros' : 'hole');
  }
  kinds[kinds.length - 1] = 'text';
  return { size, chunk, kinds };
}

/** 192 KiB in 4 KiB chunks. */
function tinyLayout(): { size: number; chunk: number; kinds: Chunk[] } {
  const chunk = 4 * KiB;
  const kinds: Chunk[] = [];
  const rng = xorshift(7);
  for (let i = 0; i < 48; i++) {
    const r = rng() / 2 ** 32;
    kinds.push(r < 0.35 ? 'data' : r < 0.6 ? 'text' : r < 0.8 ? 'zeros' : 'hole');
  }
  return { size: 48 * chunk, chunk, kinds };
}

async function writeSparse(file: string, layout: { size: number; chunk: number; kinds: Chunk[] }, seed: number): Promise<void> {
  const handle = await open(file, 'w');
  try {
    for (let i = 0; i < layout.kinds.length; i++) {
      const at = i * layout.chunk;
      const length = Math.min(layout.chunk, layout.size - at);
      const kind = layout.kinds[i]!;
      if (kind === 'hole') continue;
      const data = kind === 'zeros' ? new Uint8Array(length) : kind === 'text' ? textish(length, seed + i) : patterned(length, seed + i);
      await handle.write(data, 0, length, at);
    }
    await handle.truncate(layout.size);
  } finally {
    await handle.close();
  }
}

/** A hand-made ISO 9660 image: primary and terminator volume descriptors, data after them. */
function isoImage(): Uint8Array {
  const size = MiB;
  const iso = new Uint8Array(size);
  const view = new DataView(iso.buffer);
  const descriptor = (at: number, type: number): void => {
    iso[at] = type;
    iso.set(new TextEncoder().encode('CD001'), at + 1);
    iso[at + 6] = 1;
  };
  descriptor(0x8000, 1);
  iso.set(new TextEncoder().encode('CDI_TEST'.padEnd(32, ' ')), 0x8028);
  view.setUint32(0x8050, size / 2048, true);
  view.setUint32(0x8054, size / 2048, false);
  view.setUint16(0x8080, 2048, true);
  view.setUint16(0x8082, 2048, false);
  descriptor(0x8800, 255);
  iso.set(textish(64 * KiB, 11), 0x10000);
  iso.set(patterned(100 * KiB, 12), 0x40000);
  return iso;
}

function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

/** Incompressible bytes. */
export function patterned(length: number, seed: number): Uint8Array {
  const rng = xorshift(seed * 2654435761);
  const out = new Uint8Array(length);
  const words = new Uint32Array(out.buffer, 0, Math.floor(length / 4));
  for (let i = 0; i < words.length; i++) words[i] = rng();
  for (let i = words.length * 4; i < length; i++) out[i] = rng() & 0xff;
  return out;
}

/** Compressible bytes (lines of a few words), with no all-zero 4 KiB block. */
function textish(length: number, seed: number): Uint8Array {
  const rng = xorshift(seed * 40503 + 1);
  const words = ['qcow2', 'cluster', 'kubevirt', 'volume', 'import', 'data', 'disk', 'sector'];
  let text = '';
  while (text.length < length) text += `${words[rng() % words.length]} ${rng() % 1000}\n`;
  return new TextEncoder().encode(text.slice(0, length));
}
