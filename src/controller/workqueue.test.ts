import { describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './workqueue.ts';

describe('WorkQueue', () => {
  it('holds a waiting key once however often it is added', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.length).toBe(2);
    expect(await q.get()).toBe('a');
    expect(await q.get()).toBe('b');
  });

  it('never hands a key to two workers; a key added while processing comes back after done', async () => {
    const q = new WorkQueue();
    q.add('a');
    const k = await q.get();
    q.add('a');
    expect(q.length).toBe(0);
    q.done(k!);
    expect(q.length).toBe(1);
    expect(await q.get()).toBe('a');
  });

  it('backs off failures exponentially per key until forgotten', () => {
    const q = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
    expect([q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a'), q.addRateLimited('a')]).toEqual([10, 20, 40, 50]);
    q.forget('a');
    expect(q.addRateLimited('a')).toBe(10);
    q.shutdown();
  });

  it('holds a delay longer than a timer can (a yearly cron) instead of firing at once', () => {
    vi.useFakeTimers();
    try {
      const q = new WorkQueue();
      q.addAfter('yearly', 300 * 24 * 3600 * 1000);
      vi.advanceTimersByTime(24 * 24 * 3600 * 1000);
      expect(q.length).toBe(0);
      vi.advanceTimersByTime(1 * 24 * 3600 * 1000);
      expect(q.length).toBe(1);
      q.shutdown();
    } finally {
      vi.useRealTimers();
    }
  });

  it('wakes waiting workers on add and releases them on shutdown', async () => {
    const q = new WorkQueue();
    const waiting = q.get();
    q.add('x');
    expect(await waiting).toBe('x');
    const idle = q.get();
    q.shutdown();
    expect(await idle).toBeUndefined();
  });
});
