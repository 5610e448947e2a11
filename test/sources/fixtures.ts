import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, open, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { cacheDir, qemuConvertToRaw, qemuImg, sha256File } from '../support/qemu.ts';

const run = promisify(execFile);
const MiB = 1 << 20;

/** Deterministic incompressible-ish bytes (sha256 counter stream). */
function pattern(seed: string, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0, n = 0; i < length; n++) {
    const block = createHash('sha256').update(`${seed}:${n}`).digest();
    i += block.copy(out, i);
  }
  return out;
}

export interface SourceFixtures {
  dir: string;
  /** File names inside `dir`. */
  files: { raw: string; qcow2: string; qcow2Compressed: string; rawGz: string; qcow2Gz: string; rawXz: string; rawZst: string; large: string; text: string; tar: string };
  /** qemu-img convert -O raw of each image: its sha256 and size. */
  reference: { digest: string; size: number };
  large: { digest: string; size: number };
}

async function exists(file: string): Promise<boolean> {
  return access(file).then(() => true, () => false);
}

/** Writes a sparse raw disk with data runs at a few offsets (and holes and explicit zeros between). */
async function makeRaw(file: string, size: number, runs: Array<[number, number]>, seed: string): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.truncate(size);
    for (const [offset, length] of runs) await fh.write(pattern(`${seed}${offset}`, length), 0, length, offset);
    await fh.write(Buffer.alloc(MiB), 0, MiB, size - 2 * MiB); // explicit zeros
  } finally {
    await fh.close();
  }
}

/**
 * Small images for the import sources, made once by qemu-img and the compressors and cached under
 * .cache/fixtures/sources: an 8 MiB disk as raw, qcow2, compressed qcow2, raw.gz, qcow2.gz, raw.xz,
 * raw.zst, and a 48 MiB qcow2 for resume and parallel-range tests.
 */
export async function sourceFixtures(): Promise<SourceFixtures> {
  const dir = await cacheDir('sources');
  const files = {
    raw: 'disk.raw', qcow2: 'disk.qcow2', qcow2Compressed: 'disk-c.qcow2', rawGz: 'disk.raw.gz', qcow2Gz: 'disk.qcow2.gz',
    rawXz: 'disk.raw.xz', rawZst: 'disk.raw.zst', large: 'large.qcow2', text: 'notes.txt', tar: 'archive.tar',
  };
  const p = (f: string): string => path.join(dir, f);
  if (!(await exists(p('done')))) {
    await makeRaw(p(files.raw), 8 * MiB, [[0, 512 << 10], [MiB + 4096, MiB], [5 * MiB, 300 << 10]], 'small');
    await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', p(files.raw), p(files.qcow2));
    await qemuImg('convert', '-c', '-f', 'raw', '-O', 'qcow2', p(files.raw), p(files.qcow2Compressed));
    await run('sh', ['-c', `gzip -n -c ${files.raw} > ${files.rawGz} && gzip -n -c ${files.qcow2} > ${files.qcow2Gz} && xz -c ${files.raw} > ${files.rawXz} && zstd -q -c ${files.raw} > ${files.rawZst}`], { cwd: dir });
    await makeRaw(p('large.raw'), 64 * MiB, [[0, 20 * MiB], [24 * MiB, 16 * MiB], [50 * MiB, 8 * MiB]], 'large');
    await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', p('large.raw'), p(files.large));
    await writeFile(p(files.text), 'this is not a disk image\n'.repeat(100));
    await run('tar', ['-cf', files.tar, files.text, files.rawGz], { cwd: dir });
    await writeFile(p('done'), '');
  }
  return {
    dir,
    files,
    reference: await referenceOf(p(files.qcow2)),
    large: await referenceOf(p(files.large)),
  };
}

const references = new Map<string, { digest: string; size: number }>();

/** sha256 and size of `qemu-img convert -O raw` of an image (cached beside it). */
export async function referenceOf(image: string): Promise<{ digest: string; size: number }> {
  const known = references.get(image);
  if (known) return known;
  const raw = `${image}.reference.raw`;
  if (!(await exists(raw))) await qemuConvertToRaw(image, raw);
  const ref = { digest: await sha256File(raw), size: (await stat(raw)).size };
  references.set(image, ref);
  return ref;
}

/** sha256 of a stream of chunks. */
export async function digestOf(chunks: AsyncIterable<Uint8Array>): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const c of chunks) {
    hash.update(c);
    size += c.byteLength;
  }
  return { digest: hash.digest('hex'), size };
}

/** sha256 of the first `length` bytes of a file. */
export async function digestPrefix(file: string, length: number): Promise<string> {
  return (await digestOf(createReadStream(file, { start: 0, end: length - 1 }))).digest;
}

/** The reference raw image grown with zeros to `size` bytes: what a resized target must hash to. */
export async function grownDigest(image: string, size: number): Promise<string> {
  const raw = `${image}.reference.raw`;
  await referenceOf(image);
  const hash = createHash('sha256');
  let have = 0;
  for await (const c of createReadStream(raw)) { hash.update(c as Buffer); have += (c as Buffer).byteLength; }
  const zeros = Buffer.alloc(MiB);
  while (have < size) { const n = Math.min(MiB, size - have); hash.update(zeros.subarray(0, n)); have += n; }
  return hash.digest('hex');
}
