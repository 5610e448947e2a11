import { describe, expect, it } from 'vitest';
import { BufferPool } from './buffer-pool.ts';

describe('BufferPool', () => {
  it('reuses a buffer only after every holder released it', () => {
    const pool = new BufferPool(1024, 4);
    const a = pool.take(100, 2);
    a.lease!.retain();
    a.lease!.release();
    a.lease!.release();
    const b = pool.take(100);
    expect(b.bytes.buffer).not.toBe(a.bytes.buffer);
    a.lease!.release();
    const c = pool.take(512);
    expect(c.bytes.buffer).toBe(a.bytes.buffer);
    expect(c.bytes.byteLength).toBe(512);
  });

  it('hands out plain buffers for requests larger than its buffers', () => {
    const leased = new BufferPool(1024, 4).take(2048);
    expect(leased.lease).toBeUndefined();
    expect(leased.bytes.byteLength).toBe(2048);
  });

  it('refuses a release past zero and a retain after the buffer went back', () => {
    const { lease } = new BufferPool(64, 1).take(64);
    lease!.release();
    expect(() => lease!.release()).toThrow(/more often/);
    expect(() => lease!.retain()).toThrow(/went back/);
  });

  it('keeps at most its idle limit', () => {
    const pool = new BufferPool(64, 1);
    const a = pool.take(64);
    const b = pool.take(64);
    a.lease!.release();
    b.lease!.release();
    expect(pool.take(64).bytes.buffer).toBe(a.bytes.buffer);
    expect(pool.take(64).bytes.buffer).not.toBe(b.bytes.buffer);
  });
});
