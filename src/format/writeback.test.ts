import type { FileHandle } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { EarlyWriteback } from './writeback.ts';

function fakeHandle(fail = false): { handle: FileHandle; calls: number; finish: () => void } {
  const state = { calls: 0, finish: () => {} };
  const handle = {
    datasync: () => {
      state.calls++;
      return new Promise<void>((resolve, reject) => { state.finish = () => (fail ? reject(new Error('EIO: writeback failed')) : resolve()); });
    },
  } as unknown as FileHandle;
  return Object.assign(state, { handle }) as { handle: FileHandle; calls: number; finish: () => void };
}

describe('EarlyWriteback', () => {
  it('starts one datasync per `every` bytes written, never two at once', async () => {
    const fake = fakeHandle();
    const wb = new EarlyWriteback(fake.handle, 100);
    wb.written(60);
    expect(fake.calls).toBe(0);
    wb.written(60);
    expect(fake.calls).toBe(1);
    wb.written(500);
    expect(fake.calls).toBe(1);
    fake.finish();
    await wb.settle();
    wb.written(100);
    expect(fake.calls).toBe(2);
    fake.finish();
    await wb.settle();
  });

  it('keeps a failed datasync for settle, so the final fsync cannot hide it', async () => {
    const fake = fakeHandle(true);
    const wb = new EarlyWriteback(fake.handle, 10);
    wb.written(10);
    fake.finish();
    await expect(wb.settle()).rejects.toThrow(/EIO/);
    wb.written(100);
    expect(fake.calls).toBe(1);
    await wb.quiesce();
  });
});
