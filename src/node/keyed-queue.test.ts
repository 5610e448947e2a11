import { describe, expect, it } from 'vitest';
import { silentLogger } from '../api/logger.ts';
import { KeyedQueue } from './keyed-queue.ts';

describe('KeyedQueue', () => {
  it('never runs a key twice at once, and runs it once more when enqueued meanwhile', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new KeyedQueue(async (key) => {
      log.push(`start ${key}`);
      if (log.length === 1) await gate;
      log.push(`end ${key}`);
    }, silentLogger);
    q.enqueue('a');
    q.enqueue('a');
    q.enqueue('a');
    q.enqueue('b');
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['start a', 'start b', 'end b']);
    release();
    for (let i = 0; i < 20 && log.length < 6; i++) await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['start a', 'start b', 'end b', 'end a', 'start a', 'end a']);
    await q.close();
  });

  it('retries a failing handler', async () => {
    let calls = 0;
    const done = new Promise<void>((resolve) => {
      const q = new KeyedQueue(async () => {
        calls += 1;
        if (calls < 3) throw new Error('not yet');
        resolve();
      }, silentLogger, 5);
      q.enqueue('k');
    });
    await done;
    expect(calls).toBe(3);
  });
});
