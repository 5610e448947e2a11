import { describe, expect, it } from 'vitest';
import { resetsBackoff, restartDelayMs, shouldRestart } from './backoff.ts';

describe('restart back-off', () => {
  it('doubles from the initial delay and stops at the cap', () => {
    const p = { initialMs: 1000, maxMs: 10_000 };
    expect([0, 1, 2, 3, 4, 5, 6, 50].map((n) => restartDelayMs(n, p))).toEqual([0, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  });

  it('resets after a run of twice the cap', () => {
    expect(resetsBackoff(19_999, { initialMs: 1, maxMs: 10_000 })).toBe(false);
    expect(resetsBackoff(20_000, { initialMs: 1, maxMs: 10_000 })).toBe(true);
  });

  it('follows restartPolicy as the kubelet does', () => {
    expect(shouldRestart('Always', 0)).toBe(true);
    expect(shouldRestart(undefined, 0)).toBe(true);
    expect(shouldRestart('OnFailure', 0)).toBe(false);
    expect(shouldRestart('OnFailure', 1)).toBe(true);
    expect(shouldRestart('Never', 1)).toBe(false);
  });
});
