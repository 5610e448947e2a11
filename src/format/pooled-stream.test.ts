import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { mkdtemp, open, rm, writeFile, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { promisify } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { alignedBlocks } from './blocks.ts';
import { BufferPool, claimChunk, lendChunk } from './buffer-pool.ts';
import { readDescriptor } from './file-input.ts';
import { rawStreamReader } from './raw.ts';
import { decodeZlibStream } from './zlib-stream.ts';

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) {
    // consumers that claim must release; copying first is what a writer does
    parts.push(Buffer.from(chunk));
    claimChunk(chunk)?.release();
  }
  return Buffer.concat(parts);
}

describe('pooled chunks on a stream', () => {
  it('returns a lent chunk to its pool only once every holder released it', async () => {
    const pool = new BufferPool(8, 2);
    const first = pool.take(8);
    first.bytes.fill(1);
    async function* source(): AsyncGenerator<Uint8Array> {
      yield lendChunk(first.bytes, first.lease);
    }
    const blocks = [];
    for await (const block of alignedBlocks(source(), 4)) blocks.push({ block, lease: claimChunk(block) });
    // alignedBlocks let go of its own hold; the two views still hold the chunk
    expect(pool.take(8).bytes.buffer).not.toBe(first.bytes.buffer);
    blocks[0]!.lease!.release();
    expect(pool.take(8).bytes.buffer).not.toBe(first.bytes.buffer);
    blocks[1]!.lease!.release();
    expect(pool.take(8).bytes.buffer).toBe(first.bytes.buffer);
  });

  it('gives raw extents one hold each on the block under them', async () => {
    const pool = new BufferPool(1 << 20, 2);
    const chunk = pool.take(1 << 20);
    chunk.bytes.fill(0);
    chunk.bytes.fill(7, 0, 65536);
    chunk.bytes.fill(9, 3 * 65536, 4 * 65536);
    async function* source(): AsyncGenerator<Uint8Array> {
      yield lendChunk(chunk.bytes, chunk.lease);
    }
    const extents = [];
    for await (const e of rawStreamReader(source(), { format: 'raw' }).extents()) extents.push(e);
    const data = extents.filter((e) => e.kind === 'data');
    expect(data.map((e) => e.offset)).toEqual([0, 3 * 65536]);
    expect(pool.take(1 << 20).bytes.buffer).not.toBe(chunk.bytes.buffer);
    for (const e of data) e.lease!.release();
    expect(pool.take(1 << 20).bytes.buffer).toBe(chunk.bytes.buffer);
  });
});

describe('gzip and zstd streams into pooled chunks', () => {
  const text = Buffer.from(Array.from({ length: 3 << 20 }, (_, i) => (i * 7919) % 253));

  async function* pieces(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.byteLength; at += size) yield bytes.subarray(at, at + size);
  }

  it('decodes in 1 MiB chunks whatever the input chunking, multi-member gzip included', async () => {
    const gz = Buffer.concat([zlib.gzipSync(text.subarray(0, 1000)), zlib.gzipSync(text.subarray(1000))]);
    for (const size of [97, 4096, gz.byteLength]) {
      expect((await collect(decodeZlibStream('gzip', pieces(gz, size)))).equals(text), `gzip in ${size}`).toBe(true);
    }
    const zst = zlib.zstdCompressSync(text);
    expect((await collect(decodeZlibStream('zstd', pieces(zst, 7777)))).equals(text)).toBe(true);
  });

  it('ignores bytes after the end, and reports truncation and corruption', async () => {
    const gz = zlib.gzipSync(text);
    expect((await collect(decodeZlibStream('gzip', pieces(Buffer.concat([gz, Buffer.alloc(100)]), 65536)))).equals(text)).toBe(true);
    await expect(collect(decodeZlibStream('gzip', pieces(gz.subarray(0, gz.byteLength - 100), 65536)))).rejects.toMatchObject({ code: 'Z_BUF_ERROR' });
    const zst = zlib.zstdCompressSync(text);
    await expect(collect(decodeZlibStream('zstd', pieces(zst.subarray(0, zst.byteLength - 10), 65536)))).rejects.toThrow(/unexpected end/);
    const broken = Buffer.from(gz);
    broken.fill(0x55, 100, 400);
    await expect(collect(decodeZlibStream('gzip', pieces(broken, 65536)))).rejects.toMatchObject({ code: 'Z_DATA_ERROR' });
  });
});

describe('readDescriptor', () => {
  it('reads a descriptor to its end in full chunks', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-fd-'));
    try {
      const file = path.join(dir, 'in');
      const bytes = Buffer.from(Array.from({ length: (2 << 20) + 123 }, (_, i) => i % 251));
      await writeFile(file, bytes);
      const handle = await open(file, 'r');
      const sizes: number[] = [];
      const parts: Buffer[] = [];
      for await (const chunk of readDescriptor(handle.fd)) {
        sizes.push(chunk.byteLength);
        parts.push(Buffer.from(chunk));
      }
      await handle.close();
      expect(sizes).toEqual([1 << 20, 1 << 20, 123]);
      expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fills the next chunk of a pipe while the consumer holds the current one, in order', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-fd-'));
    let cat: ChildProcess | undefined;
    try {
      const file = path.join(dir, 'in');
      const fifo = path.join(dir, 'fifo');
      const bytes = Buffer.from(Array.from({ length: (2 << 20) + 123 }, (_, i) => (i * 7) % 253));
      await writeFile(file, bytes);
      await promisify(execFile)('mkfifo', ['-m', '600', fifo]);
      // the writer blocks once the pipe's 64 KiB buffer is full, so it can exit only if the
      // second MiB is read while the consumer still holds the first
      const [reader, writer] = await Promise.all([open(fifo, fsConstants.O_RDONLY), open(fifo, fsConstants.O_WRONLY)]);
      const child = spawn('cat', [file], { stdio: ['ignore', writer.fd, 'ignore'] });
      cat = child;
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      let catDone = false;
      void exited.then(() => (catDone = true));
      await writer.close();
      const chunks = readDescriptor(reader.fd);
      const parts: Buffer[] = [];
      const first = await chunks.next();
      parts.push(Buffer.from(first.value as Uint8Array));
      await vi.waitFor(() => expect(catDone).toBe(true), { timeout: 10_000 });
      for await (const chunk of { [Symbol.asyncIterator]: () => chunks }) parts.push(Buffer.from(chunk));
      await reader.close();
      expect(await exited).toBe(0);
      expect(parts.map((p) => p.byteLength)).toEqual([1 << 20, 1 << 20, 123]);
      expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    } finally {
      if (cat?.exitCode === null) cat.kill();
      await rm(dir, { recursive: true, force: true });
    }
  });

  /** A FIFO in a fresh directory, opened at both ends; the reader optionally non-blocking. */
  async function fifoPair(readFlags = fsConstants.O_RDONLY): Promise<{ dir: string; fifo: string; reader: FileHandle; writer: FileHandle; cleanup(): Promise<void> }> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-fd-'));
    const fifo = path.join(dir, 'fifo');
    await promisify(execFile)('mkfifo', ['-m', '600', fifo]);
    const [reader, writer] = await Promise.all([open(fifo, readFlags), open(fifo, fsConstants.O_WRONLY)]);
    const cleanup = async (): Promise<void> => {
      await Promise.all([reader.close(), writer.close()]);
      await rm(dir, { recursive: true, force: true });
    };
    return { dir, fifo, reader, writer, cleanup };
  }

  const patternedBytes = (length: number, seed: number): Buffer => Buffer.from(Array.from({ length }, (_, i) => (i * seed + (i >> 12)) % 251));

  it('reads a pipe whose writer pauses until the consumer has the first chunk, byte for byte', async () => {
    const pipe = await fifoPair();
    try {
      const bytes = patternedBytes((3 << 20) + 4321, 13);
      const chunks = readDescriptor(pipe.reader.fd);
      const parts: Buffer[] = [];
      // the writer's threadpool write blocks once the pipe is full, so it is not awaited first
      const firstWrite = pipe.writer.write(bytes, 0, 1_500_000);
      const first = await chunks.next();
      parts.push(Buffer.from(first.value as Uint8Array));
      await firstWrite;
      // odd pieces after the pause; the reader has waited on an empty pipe
      const writing = (async () => {
        for (let at = 1_500_000; at < bytes.byteLength; at += 99_991) await pipe.writer.write(bytes, at, Math.min(99_991, bytes.byteLength - at));
        await pipe.writer.close();
      })();
      for await (const chunk of { [Symbol.asyncIterator]: () => chunks }) parts.push(Buffer.from(chunk));
      await writing;
      expect(parts.map((p) => p.byteLength)).toEqual([1 << 20, 1 << 20, 1 << 20, 4321]);
      expect(Buffer.concat(parts).equals(bytes)).toBe(true);
    } finally {
      await pipe.cleanup();
    }
  });

  it('reads a pipe opened non-blocking, and leaves the caller its descriptor', async () => {
    const pipe = await fifoPair(fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    try {
      const bytes = patternedBytes((2 << 20) + 77, 17);
      const writing = (async () => {
        await pipe.writer.write(bytes);
        await pipe.writer.close();
      })();
      const read = await collect(readDescriptor(pipe.reader.fd));
      await writing;
      expect(read.equals(bytes)).toBe(true);
      // still the caller's and still open: its stat works and its close below succeeds
      expect((await pipe.reader.stat()).isFIFO()).toBe(true);
    } finally {
      await pipe.cleanup();
    }
  });

  it('ends with the bytes written before a writer that died mid-stream', async () => {
    const pipe = await fifoPair();
    try {
      const file = path.join(pipe.dir, 'in');
      const bytes = patternedBytes(3 << 20, 19);
      await writeFile(file, bytes);
      const child = spawn('sh', ['-c', 'head -c 1600000 "$0"; kill -KILL $$', file], { stdio: ['ignore', pipe.writer.fd, 'ignore'] });
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await pipe.writer.close();
      const read = await collect(readDescriptor(pipe.reader.fd));
      expect(await exited).toBe('SIGKILL');
      expect(read.equals(bytes.subarray(0, 1_600_000))).toBe(true);
    } finally {
      await pipe.cleanup();
    }
  });

  it('lets a consumer stop early: the writer sees the pipe close and nothing hangs', async () => {
    const pipe = await fifoPair();
    let cat: ChildProcess | undefined;
    try {
      const file = path.join(pipe.dir, 'in');
      await writeFile(file, patternedBytes(8 << 20, 23));
      const child = spawn('cat', [file], { stdio: ['ignore', pipe.writer.fd, 'ignore'] });
      cat = child;
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      await pipe.writer.close();
      let taken = 0;
      for await (const chunk of readDescriptor(pipe.reader.fd)) {
        taken += chunk.byteLength;
        break;
      }
      expect(taken).toBe(1 << 20);
      // our reading end closed, cat's next write fails: it ends by SIGPIPE
      await pipe.reader.close();
      expect(await exited).toBe('SIGPIPE');
    } finally {
      if (cat?.exitCode === null && cat.signalCode === null) cat.kill();
      await pipe.cleanup().catch(() => {});
      await rm(pipe.dir, { recursive: true, force: true });
    }
  });

  it('stops on abort, also while it waits for bytes that do not come (stdin, read by the event loop)', async () => {
    // Only stdio's descriptors take the event-loop path, so a child reads its own stdin.
    const script = `
      const { readDescriptor } = await import(process.argv[1]);
      const abort = new AbortController();
      const chunks = readDescriptor(0, abort.signal);
      const first = await chunks.next();
      const waiting = chunks.next();
      abort.abort(new Error('stopped'));
      const outcome = await waiting.then(() => 'resolved', (e) => e.message);
      const after = await chunks.next();
      const before = await readDescriptor(0, abort.signal).next().then(() => 'resolved', (e) => e.message);
      process.stdout.write(JSON.stringify({ first: first.value.byteLength, outcome, afterDone: after.done, before }));
      process.exit(0);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, new URL('./file-input.ts', import.meta.url).href], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stdin.on('error', () => {});
    child.stdin.write(Buffer.alloc(1 << 20, 5));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdin.destroy();
    expect(code).toBe(0);
    expect(JSON.parse(out)).toEqual({ first: 1 << 20, outcome: 'stopped', afterDone: true, before: 'stopped' });
  });
});
