import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { freePort } from '../../test/support/ports.ts';
import type { ProbeTiming } from './pod-plan.ts';
import { runProbe } from './probe.ts';
import { runReadinessProbing, startupDelayMs } from './readiness-probing.ts';

const timing = (t: Partial<ProbeTiming> = {}): ProbeTiming => ({ initialDelayMs: 0, periodMs: 10_000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3, ...t });

/**
 * Runs the prober on fake time against a scripted probe (`passes(t)` answers the probe made at
 * t ms), recording when each probe ran, each readiness change and each Unhealthy report.
 */
function scripted(passes: (t: number) => boolean, opts: { timing?: Partial<ProbeTiming>; maxIntervalMs?: number } = {}) {
  const start = Date.now();
  const at = () => Date.now() - start;
  const probes: number[] = [];
  const ready: Array<[number, boolean]> = [];
  const unhealthy: number[] = [];
  const abort = new AbortController();
  const done = runReadinessProbing({
    timing: timing(opts.timing),
    maxIntervalMs: opts.maxIntervalMs ?? 1000,
    probe: () => {
      probes.push(at());
      return Promise.resolve(passes(at()));
    },
    onReady: (r) => ready.push([at(), r]),
    onUnhealthy: () => unhealthy.push(at()),
    signal: abort.signal,
  });
  return { probes, ready, unhealthy, abort, done };
}

/** Probe times from `from` to `to` (inclusive) 50 ms apart. */
const everyFifty = (from: number, to: number) => Array.from({ length: (to - from) / 50 + 1 }, (_, i) => from + i * 50);

describe('start-up schedule', () => {
  it('waits 50 ms between the first 21 probes, then doubles from 100 ms up to the interval', () => {
    const waits = (intervalMs: number) => Array.from({ length: 26 }, (_, i) => startupDelayMs(i + 1, intervalMs));
    expect(waits(1000)).toEqual([...Array<number>(20).fill(50), 100, 200, 400, 800, 1000, 1000]);
    expect(waits(100)).toEqual([...Array<number>(20).fill(50), ...Array<number>(6).fill(100)]);
    expect(startupDelayMs(500, 1000)).toBe(1000);
  });
});

describe('runReadinessProbing', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('probes at spawn, then on the start-up schedule while nothing passes, capped at the agent interval for a long period', async () => {
    const run = scripted(() => false, { timing: { periodMs: 300_000 } });
    await vi.advanceTimersByTimeAsync(4600);
    expect(run.probes).toEqual([...everyFifty(0, 1000), 1100, 1300, 1700, 2500, 3500, 4500]);
    expect(run.ready).toEqual([]);
    run.abort.abort();
    await run.done;
  });

  it('marks ready at the first start-up probe after the server listens, not a period later; then probes every period', async () => {
    const run = scripted((t) => t >= 320, { timing: { periodMs: 1000 } });
    await vi.advanceTimersByTimeAsync(3000);
    expect(run.ready).toEqual([[350, true]]);
    expect(run.probes).toEqual([...everyFifty(0, 350), 1350, 2350]);
    expect(run.unhealthy).toEqual([]);
    run.abort.abort();
    await run.done;
  });

  it('reports start-up failures once, only when they have lasted an interval', async () => {
    const run = scripted((t) => t >= 5000);
    await vi.advanceTimersByTimeAsync(6000);
    // the start-up probes of the first interval go unreported; the one at 1000 is the first after a full interval
    expect(run.unhealthy).toEqual([1000]);
    expect(run.probes.filter((t) => t >= 1000)).toEqual([1000, 1100, 1300, 1700, 2500, 3500, 4500, 5500]);
    expect(run.ready).toEqual([[5500, true]]);
    run.abort.abort();
    await run.done;
  });

  it('keeps failureThreshold after ready: unready at the third failure in a row, reported once at the first; ready again at the next pass', async () => {
    const run = scripted((t) => t < 1000 || t >= 4000);
    await vi.advanceTimersByTimeAsync(5000);
    // ready at 0; period probes at 1000, 2000, 3000 fail; 4000 passes
    expect(run.probes).toEqual([0, 1000, 2000, 3000, 4000, 5000]);
    expect(run.ready).toEqual([[0, true], [3000, false], [4000, true]]);
    expect(run.unhealthy).toEqual([1000]);
    run.abort.abort();
    await run.done;
  });

  it('keeps successThreshold: the passes after the first are a period apart', async () => {
    const run = scripted((t) => t >= 100, { timing: { successThreshold: 2 } });
    await vi.advanceTimersByTimeAsync(2000);
    expect(run.probes).toEqual([0, 50, 100, 1100]);
    expect(run.ready).toEqual([[1100, true]]);
    run.abort.abort();
    await run.done;
  });

  it('waits initialDelaySeconds before the first probe, then starts the start-up schedule', async () => {
    const run = scripted(() => false, { timing: { initialDelayMs: 2000 } });
    await vi.advanceTimersByTimeAsync(2160);
    expect(run.probes).toEqual([2000, 2050, 2100, 2150]);
    run.abort.abort();
    await run.done;
  });

  it('stops probing and reports nothing more once aborted (the container exited)', async () => {
    const run = scripted(() => false);
    await vi.advanceTimersByTimeAsync(75);
    run.abort.abort();
    await run.done;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(run.probes).toEqual([0, 50]);
    expect(run.unhealthy).toEqual([]);
  });
});

describe('runReadinessProbing against a real socket', () => {
  it('sees a server that starts listening after the spawn probe failed at the next start-up probe, with a 10-minute period', { timeout: 10_000 }, async () => {
    const port = await freePort();
    const server = net.createServer((s) => s.destroy());
    const abort = new AbortController();
    const results: boolean[] = [];
    try {
      await new Promise<void>((resolve) => {
        void runReadinessProbing({
          timing: timing({ periodMs: 600_000 }),
          maxIntervalMs: 600_000,
          probe: async () => {
            const pass = await runProbe({ type: 'tcp', port }, 1000);
            results.push(pass);
            if (!pass && results.length === 1) await new Promise<void>((listening) => server.listen(port, '127.0.0.1', listening));
            return pass;
          },
          onReady: (ready) => {
            if (ready) resolve();
          },
          onUnhealthy: () => undefined,
          signal: abort.signal,
        });
      });
      expect(results).toEqual([false, true]);
    } finally {
      abort.abort();
      await new Promise((r) => server.close(r));
    }
  });
});
