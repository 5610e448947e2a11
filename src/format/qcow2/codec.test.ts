import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { isCdiError } from '../../api/errors.ts';
import { openClusterDecoder, zstdFrameEnd } from './decompress.ts';
import { parseHeader } from './header.ts';
import { HostQueue, QueueHeap } from './host-queue.ts';
import { SpillStore } from '../spill.ts';
import { decodeL1, decodeL2, RUN_COMPRESSED, RUN_DATA, RUN_ZERO, RunList } from './tables.ts';

/** A minimal valid header: 64 KiB clusters, `size` bytes, L1 at cluster 3. */
function header(version: 2 | 3, size: number, patch?: (v: DataView) => void): Uint8Array {
  const b = new Uint8Array(65536);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x514649fb);
  v.setUint32(4, version);
  v.setUint32(20, 16);
  v.setBigUint64(24, BigInt(size));
  v.setUint32(36, Math.ceil(size / (65536 * 8192)));
  v.setBigUint64(40, 3n * 65536n);
  v.setBigUint64(48, 65536n);
  v.setUint32(56, 1);
  if (version === 3) {
    v.setUint32(96, 4);
    v.setUint32(100, 104);
  }
  patch?.(v);
  return b;
}

function code(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return isCdiError(err) ? err.code : `not coded: ${String(err)}`;
  }
}

describe('qcow2 header codec', () => {
  it('parses v2 and v3 headers and rounds the size down to sectors', () => {
    const v2 = parseHeader(header(2, 10 * 1024 * 1024 + 700));
    expect(v2).toMatchObject({ version: 2, clusterSize: 65536, virtualSize: 10 * 1024 * 1024 + 512, l1Entries: 1, compression: 'zlib', extendedL2: false });
    const v3 = parseHeader(header(3, 256 << 20, (v) => {
      v.setUint32(100, 112);
      v.setUint8(104, 1);
      v.setBigUint64(72, 0x8n | 0x10n | 0x1n);
    }));
    expect(v3).toMatchObject({ version: 3, compression: 'zstd', extendedL2: true, dirty: true, l2EntrySize: 16, l2Entries: 4096, l1Entries: 1 });
  });

  it('reads the feature name table to name an unknown incompatible bit', () => {
    const b = header(3, 1 << 20, (v) => v.setBigUint64(72, 1n << 9n));
    const v = new DataView(b.buffer);
    v.setUint32(104, 0x6803f857);
    v.setUint32(108, 48);
    b[112] = 0;
    b[113] = 9;
    b.set(Buffer.from('future feature'), 114);
    expect(() => parseHeader(b)).toThrow(/200 \(future feature\)/);
  });

  it('checks tables against the file size', () => {
    expect(code(() => parseHeader(header(3, 1 << 20), 3 * 65536))).toBe('CDI_ERR_QCOW2_OUT_OF_BOUNDS');
    expect(code(() => parseHeader(header(3, 1 << 20, (v) => v.setBigUint64(40, 3n * 65536n + 8n))))).toBe('CDI_ERR_QCOW2_INVALID');
    expect(code(() => parseHeader(header(3, 1 << 20, (v) => v.setBigUint64(40, 0n))))).toBe('CDI_ERR_QCOW2_INVALID');
    expect(code(() => parseHeader(header(3, 1 << 20).subarray(0, 80)))).toBe('CDI_ERR_TRUNCATED');
  });
});

describe('qcow2 table codec', () => {
  const h = parseHeader(header(3, 3 * 65536 + 4096));

  it('decodes standard, zero, unallocated and compressed entries, merging contiguous runs', () => {
    const table = new Uint8Array(65536);
    const v = new DataView(table.buffer);
    v.setBigUint64(0, (1n << 63n) | 0x50000n);
    v.setBigUint64(8, (1n << 63n) | 0x60000n);
    v.setBigUint64(16, 1n);
    // compressed: 2 extra sectors at byte offset 0x70010
    v.setBigUint64(24, (1n << 62n) | (2n << 54n) | 0x70010n);
    const runs = new RunList();
    decodeL2(table, 0, h, runs);
    expect(runs.count).toBe(3);
    expect([runs.kind[0], runs.guest[0], runs.host[0], runs.length[0]]).toEqual([RUN_DATA, 0, 0x50000, 131072]);
    expect([runs.kind[1], runs.guest[1], runs.length[1]]).toEqual([RUN_ZERO, 131072, 65536]);
    // the last cluster is cut at the virtual size; the compressed range ends on a sector boundary
    expect([runs.kind[2], runs.guest[2], runs.host[2], runs.length[2], runs.hostLength[2]]).toEqual([RUN_COMPRESSED, 196608, 0x70010, 4096, 3 * 512 - 0x10]);
  });

  it('refuses reserved bits, unaligned clusters and offsets past the file', () => {
    const table = new Uint8Array(65536);
    const v = new DataView(table.buffer);
    v.setBigUint64(0, 0x50000n | 0x100n);
    expect(code(() => decodeL2(table, 0, h, new RunList()))).toBe('CDI_ERR_QCOW2_INVALID');
    v.setBigUint64(0, 0x50200n);
    expect(code(() => decodeL2(table, 0, h, new RunList()))).toBe('CDI_ERR_QCOW2_INVALID');
    v.setBigUint64(0, 0x50000n);
    expect(code(() => decodeL2(table, 0, h, new RunList(), 0x50000 + 100))).toBe('CDI_ERR_QCOW2_OUT_OF_BOUNDS');
    const l1 = new Uint8Array(8);
    new DataView(l1.buffer).setBigUint64(0, 0x40000n | (1n << 62n));
    expect(code(() => decodeL1(l1, h))).toBe('CDI_ERR_QCOW2_INVALID');
  });
});

describe('compressed cluster codec', () => {
  const cluster = Buffer.alloc(4096, 7);
  const text = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 31) % 251));

  it('finds the end of a zstd frame so bytes of the next cluster are ignored', async () => {
    const frame = zlib.zstdCompressSync(cluster);
    const withNext = Buffer.concat([frame, frame.subarray(0, 20)]);
    expect(zstdFrameEnd(withNext, 0)).toBe(frame.byteLength);
    expect(zstdFrameEnd(frame.subarray(0, frame.byteLength - 1), 0)).toBe(-1);
    const decoder = openClusterDecoder('zstd');
    const out = new Uint8Array(4096);
    decoder.inflate(withNext, 4096, out, 0);
    expect(Buffer.from(out).equals(cluster)).toBe(true);
    decoder.close();
  });

  it('inflates a cluster made of several zstd frames', () => {
    const two = Buffer.concat([zlib.zstdCompressSync(text.subarray(0, 1000)), zlib.zstdCompressSync(text.subarray(1000))]);
    const out = new Uint8Array(4096);
    openClusterDecoder('zstd').inflate(two, 4096, out, 0);
    expect(Buffer.from(out).equals(text)).toBe(true);
  });

  it('inflates raw deflate and refuses output of the wrong size', () => {
    const decoder = openClusterDecoder('zlib');
    const out = new Uint8Array(4096);
    decoder.inflate(zlib.deflateRawSync(cluster, { windowBits: 12 }), 4096, out, 0);
    expect(Buffer.from(out).equals(cluster)).toBe(true);
    expect(() => decoder.inflate(zlib.deflateRawSync(Buffer.alloc(8192)), 4096, new Uint8Array(4096), 0)).toThrow(/more than one cluster/);
    expect(() => decoder.inflate(zlib.deflateRawSync(Buffer.alloc(100)), 4096, new Uint8Array(4096), 0)).toThrow(/100 bytes/);
  });

  it('refuses zstd that inflates past the cluster, and broken streams, then decodes the next cluster', () => {
    for (const codec of ['zlib', 'zstd'] as const) {
      const decoder = openClusterDecoder(codec);
      const pack = (b: Buffer): Buffer => (codec === 'zstd' ? zlib.zstdCompressSync(b) : zlib.deflateRawSync(b));
      expect(() => decoder.inflate(pack(Buffer.concat([text, text])), 4096, new Uint8Array(4096), 0), codec).toThrow(/more than one cluster/);
      const broken = pack(text);
      broken.fill(0xff, 6, 40);
      expect(() => decoder.inflate(broken, 4096, new Uint8Array(4096), 0), codec).toThrow();
      expect(() => decoder.inflate(pack(text).subarray(0, 30), 4096, new Uint8Array(4096), 0), codec).toThrow();
      // after failures the decoder still works, and writes at the offset it is given
      const out = new Uint8Array(8192);
      decoder.inflate(pack(text), 4096, out, 4096);
      expect(Buffer.from(out.subarray(4096)).equals(text), codec).toBe(true);
      decoder.close();
    }
  });
});

describe('one-pass bookkeeping', () => {
  it('merges queues in host order', () => {
    const heap = new QueueHeap();
    heap.push(HostQueue.of(5, [300, 100], [3, 1], 10));
    heap.push(HostQueue.of(5, [200, 50], [2, 0], 10));
    const order: number[] = [];
    for (let q = heap.peek(); q; q = heap.peek()) {
      order.push(q.host[q.i]!);
      heap.advance();
    }
    expect(order).toEqual([50, 100, 200, 300]);
  });

  it('keeps recent bytes in memory, older ones on disk, zeros as ranges; removes its file', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'qcow2-spill-'));
    try {
      const store = new SpillStore(dir, 1 << 20, 1024);
      await store.keep(0, new Uint8Array(512).fill(1));
      await store.keep(512, new Uint8Array(512).fill(2));
      expect(store.spilled()).toBe(0);
      await store.keep(1024, new Uint8Array(512).fill(3));
      expect(store.spilled()).toBe(512);
      await store.keep(1536, new Uint8Array(4096));
      const out = new Uint8Array(2048);
      let done = 0;
      while (done < out.length) done += await store.copy(done, out, done, out.length - done);
      expect([out[0], out[600], out[1100], out[2000]]).toEqual([1, 2, 3, 0]);
      expect(await store.copy(9000, out, 0, 10)).toBe(0);
      await store.close();
      expect(await readdir(dir)).toEqual([]);
      const limited = new SpillStore(dir, 100, 0);
      await expect(limited.keep(0, new Uint8Array(200).fill(1))).rejects.toMatchObject({ code: 'CDI_ERR_SCRATCH_LIMIT' });
      await limited.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
