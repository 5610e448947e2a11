import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SpillStore } from './spill.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'spill-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const filled = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);

async function read(store: SpillStore, host: number, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  for (let got = 0; got < n;) {
    const copied = await store.copy(host + got, out, got, n - got);
    if (copied === 0) throw new Error(`${host + got} was not kept`);
    got += copied;
  }
  return out;
}

describe('SpillStore', () => {
  it('finds every kept range when data leaves the window after later zero ranges were noted', async () => {
    const store = new SpillStore(dir, Infinity, 1024);
    const pieces: [number, Uint8Array][] = [];
    for (let i = 0; i < 12; i++) pieces.push([i * 512, i % 3 === 1 ? filled(512, 0) : filled(512, i + 1)]);
    for (const [host, bytes] of pieces) await store.keep(host, bytes);
    for (const [host, bytes] of pieces) expect(await read(store, host, 512)).toEqual(bytes);
    expect(await read(store, 0, 12 * 512)).toEqual(new Uint8Array(Buffer.concat(pieces.map(([, b]) => b))));
    expect(store.spilled()).toBeGreaterThan(0);
    expect(await store.copy(12 * 512, new Uint8Array(1), 0, 1)).toBe(0);
    await store.close();
    expect(await readdir(dir)).toEqual([]);
  });
});
