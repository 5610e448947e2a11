import { describe, expect, it } from 'vitest';
import { alignedBlocks } from './blocks.ts';
import { parseChecksum, ChecksumTee } from './checksum.ts';
import { Coverage } from './coverage.ts';
import { WriteQueue } from './write-queue.ts';
import { isAllZero, zeroRuns } from './zero.ts';

describe('Coverage', () => {
  it('merges ranges in any order and reports the gaps', () => {
    const c = new Coverage();
    c.add(0, 10);
    c.add(10, 20);
    c.add(50, 60);
    c.add(30, 40);
    c.add(35, 55);
    c.add(5, 8);
    expect([...c.gaps(100)]).toEqual([
      { start: 20, end: 30 },
      { start: 60, end: 100 },
    ]);
    expect([...c.gaps(25)]).toEqual([{ start: 20, end: 25 }]);
    expect([...new Coverage().gaps(7)]).toEqual([{ start: 0, end: 7 }]);
  });
});

describe('zero detection', () => {
  it('splits a block into zero and data runs', () => {
    const block = new Uint8Array(8 * 1024);
    block[4096 + 17] = 1;
    expect(isAllZero(block)).toBe(false);
    expect(isAllZero(new Uint8Array(3 << 20))).toBe(true);
    expect([...zeroRuns(block, 1024)]).toEqual([
      { start: 0, end: 4096, zero: true },
      { start: 4096, end: 5120, zero: false },
      { start: 5120, end: 8192, zero: true },
    ]);
  });
});

describe('alignedBlocks', () => {
  it('regroups chunks into aligned blocks and keeps the tail', async () => {
    async function* source(): AsyncGenerator<Uint8Array> {
      yield new Uint8Array(3).fill(1);
      yield new Uint8Array(10).fill(2);
      yield new Uint8Array(8).fill(3);
    }
    const out: number[][] = [];
    for await (const b of alignedBlocks(source(), 4)) out.push([...b]);
    expect(out).toEqual([[1, 1, 1, 2], [2, 2, 2, 2], [2, 2, 2, 2], [2, 3, 3, 3], [3, 3, 3, 3], [3]]);
  });
});

describe('checksums', () => {
  it('parses CDI algo:hex and verifies', () => {
    const sum = parseChecksum('sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855');
    const tee = new ChecksumTee(sum);
    expect(tee.verify()).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    const other = new ChecksumTee(parseChecksum(`md5:${'0'.repeat(32)}`));
    other.update(new Uint8Array([1]));
    expect(() => other.verify()).toThrow(/checksum mismatch: expected md5:0{32}, got md5:55a54008ad1ba589aa210d2629c1df41/);
    expect(() => parseChecksum('sha384:00')).toThrow(/invalid checksum/);
  });
});

describe('WriteQueue', () => {
  it('bounds what is in flight and reports the first failure', async () => {
    const queue = new WriteQueue(10, 2);
    let running = 0;
    let peak = 0;
    const op = (ms: number, fail = false) => async (): Promise<void> => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      if (fail) throw new Error('disk on fire');
    };
    for (let i = 0; i < 6; i++) await queue.push(4, op(2));
    await queue.drain();
    expect(peak).toBe(2);
    await queue.push(1, op(1, true));
    await expect(queue.drain()).rejects.toThrow('disk on fire');
  });
});
