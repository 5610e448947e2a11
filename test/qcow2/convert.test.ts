/**
 * Every fixture converted by both readers (random access from the file; one pass in one piece,
 * in 7-byte and random chunks, and byte by byte for tiny images) must match `qemu-img convert -O raw`.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RandomAccessInput } from '../../src/format/contracts.ts';
import { openQcow2Random, openQcow2Stream } from '../../src/format/qcow2/index.ts';
import { built, fixtures } from './fixtures.ts';
import { convertToFile, fileChunks, fileInput, type Chunking } from './harness.ts';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'qcow2-convert-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(fixtures.map((f) => [f.name, f] as const))('qcow2 %s', (name, fixture) => {
  it('random-access reader matches qemu-img', async () => {
    const img = await built(fixture);
    const input = await fileInput(img.file);
    try {
      const reader = await openQcow2Random(input, {});
      expect(await convertToFile(reader, path.join(work, `${name}-random.raw`))).toBe(img.reference);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
  });

  const chunkings: Chunking[] = ['whole', 7, 'random', ...(fixture.tiny ? [1 as const] : [])];
  it.each(chunkings)('one-pass reader matches qemu-img, chunks %s', async (chunking) => {
    const img = await built(fixture);
    const reader = await openQcow2Stream(await fileChunks(img.file, chunking), { scratchDir: work });
    expect(await convertToFile(reader, path.join(work, `${name}-stream.raw`))).toBe(img.reference);
    if (fixture.convertLayout) expect(reader.spillBytes()).toBe(0);
    if (fixture.spills) expect(reader.spillBytes()).toBeGreaterThan(0);
  });
});

describe('qcow2 random-access reader and caller buffers', () => {
  it('never detaches or changes buffers the input hands out (they may be views of a shared cache)', async () => {
    const img = await built(fixtures.find((f) => f.name === 'zstd-16k-regions')!);
    const whole = new Uint8Array(await readFile(img.file));
    const copy = new Uint8Array(whole);
    const views: RandomAccessInput = {
      size: whole.byteLength,
      read: async (offset, length) => whole.subarray(offset, offset + length),
      stream: () => {
        throw new Error('not used');
      },
    };
    const reader = await openQcow2Random(views, {});
    expect(await convertToFile(reader, path.join(work, 'views.raw'))).toBe(img.reference);
    expect(whole.buffer.byteLength).toBe(copy.byteLength);
    expect(Buffer.compare(whole, copy)).toBe(0);
  });
});

describe('qcow2 random-access reader read sizes', () => {
  /** The file input with its readSize replaced, recording the length of every data read. */
  async function recording(file: string, readSize: number | undefined): Promise<{ input: RandomAccessInput; dataReads: number[]; close(): Promise<void> }> {
    const inner = await fileInput(file);
    const dataReads: number[] = [];
    const input: RandomAccessInput = {
      size: inner.size,
      ...(readSize === undefined ? {} : { readSize }),
      read: (offset, length, signal) => inner.read(offset, length, signal),
      readLeased: (offset, length, signal) => {
        dataReads.push(length);
        return inner.readLeased!(offset, length, signal);
      },
      stream: (offset, signal) => inner.stream(offset, signal),
    };
    return { input, dataReads, close: () => inner.close() };
  }

  it('reads stored data in pieces no larger than the input asks for, and matches qemu-img', async () => {
    // 2 MiB clusters: one cluster is cut into several reads
    for (const name of ['v3-64k', 'v3-2m']) {
      const img = await built(fixtures.find((f) => f.name === name)!);
      const small = await recording(img.file, 64 * 1024);
      const whole = await recording(img.file, undefined);
      try {
        expect(await convertToFile(await openQcow2Random(small.input, {}), path.join(work, `${name}-small-reads.raw`))).toBe(img.reference);
        expect(await convertToFile(await openQcow2Random(whole.input, {}), path.join(work, `${name}-whole-reads.raw`))).toBe(img.reference);
      } finally {
        await small.close();
        await whole.close();
      }
      expect(Math.max(...small.dataReads), name).toBe(64 * 1024);
      // without a preference the reader joins host-contiguous clusters into larger reads
      expect(Math.max(...whole.dataReads), name).toBeGreaterThan(64 * 1024);
    }
  });

  it('local files ask for 256 KiB reads', async () => {
    const img = await built(fixtures.find((f) => f.name === 'v3-64k')!);
    const input = await fileInput(img.file);
    await input.close();
    expect(input.readSize).toBe(256 * 1024);
  });
});
