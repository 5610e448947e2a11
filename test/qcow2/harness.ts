/**
 * Test harness for the qcow2 readers: file-backed RandomAccessInput, chunked streams, and a tiny
 * sink that applies extents to a temp file and checks none lands past the virtual size.
 */
import { createHash } from 'node:crypto';
import { open, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { CdiError } from '../../src/api/errors.ts';
import { BufferPool, lendChunk } from '../../src/format/buffer-pool.ts';
import type { ImageReader, RandomAccessInput } from '../../src/format/contracts.ts';
import { openFileInput } from '../../src/format/file-input.ts';
import { extentEnd } from '../../src/format/extent.ts';

export function bufferInput(bytes: Uint8Array): RandomAccessInput {
  return {
    size: bytes.byteLength,
    async read(offset, length) {
      if (offset < 0 || offset + length > bytes.byteLength) throw new CdiError('CDI_ERR_TRUNCATED', [`read past end at ${offset}`]);
      return new Uint8Array(bytes.subarray(offset, offset + length));
    },
    async *stream(offset) {
      yield bytes.subarray(offset);
    },
  };
}

/** The product's file input: random reads and the sequential stream some readers take once their tables are read. */
export const fileInput = openFileInput;

export type Chunking = 'whole' | number | 'random';

/** A PRNG small and deterministic enough for tests (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function* chunked(bytes: Uint8Array, chunking: Chunking, seed = 1): AsyncGenerator<Uint8Array> {
  if (chunking === 'whole') {
    yield bytes;
    return;
  }
  const rnd = prng(seed);
  for (let at = 0; at < bytes.byteLength;) {
    const n = chunking === 'random' ? 1 + Math.floor(rnd() ** 3 * 300_000) : chunking;
    // copies, so a reader keeping a view of an earlier chunk is caught if it assumed reuse
    yield new Uint8Array(bytes.subarray(at, at + n));
    at += n;
  }
}

/**
 * Chunks of `size` bytes lent from a pool of two buffers, as `cdi convert -` reads stdin: a
 * buffer is refilled as soon as the reader gives its chunk back, so a reader that keeps a view
 * of a chunk past its next read sees it overwritten.
 */
export async function* pooledChunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  const pool = new BufferPool(size, 2);
  for (let at = 0; at < bytes.byteLength; at += size) {
    const piece = bytes.subarray(at, at + size);
    const { bytes: buffer, lease } = pool.take(piece.byteLength);
    buffer.set(piece);
    yield lendChunk(buffer, lease);
  }
}

export async function fileChunks(file: string, chunking: Chunking): Promise<AsyncGenerator<Uint8Array>> {
  return chunked(await readFile(file), chunking);
}

/** Applies every extent to `out` (sparse file), sizes it to the virtual size, returns its sha256. */
export async function convertToFile(reader: ImageReader, out: string): Promise<string> {
  const size = reader.virtualSize ?? 0;
  await rm(out, { force: true });
  const fh = await open(out, 'w+');
  try {
    for await (const e of reader.extents()) {
      if (e.offset < 0 || extentEnd(e) > size) throw new Error(`extent [${e.offset}, ${extentEnd(e)}) is past the virtual size ${size}`);
      if (e.kind === 'data') await fh.write(e.data, 0, e.data.byteLength, e.offset);
      else if (e.length <= 64 * 1024 * 1024) await fh.write(new Uint8Array(e.length), 0, e.length, e.offset);
    }
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
  const hash = createHash('sha256');
  const rfh = await open(out, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await rfh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await rfh.close();
  }
  return hash.digest('hex');
}

/** Drains a reader in memory, checking bounds; for hostile inputs where only errors matter. */
export async function drain(reader: ImageReader): Promise<number> {
  const size = reader.virtualSize ?? 0;
  let n = 0;
  for await (const e of reader.extents()) {
    if (e.offset < 0 || extentEnd(e) > size) throw new Error(`extent [${e.offset}, ${extentEnd(e)}) is past the virtual size ${size}`);
    n++;
  }
  return n;
}

export function tmpName(dir: string, name: string): string {
  return path.join(dir, name);
}
