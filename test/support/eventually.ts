import { setTimeout as sleep } from 'node:timers/promises';

type NotYet = undefined | null | false;

/**
 * The one polling helper of the suites and benchmarks: retries `check` every `intervalMs` (50 ms) until it gives
 * a value other than undefined, null or false, and returns that value. A throw from `check`
 * counts as "not yet"; on timeout the error names `what` and the last throw. It sleeps on
 * node:timers/promises, which vitest's fake timers leave alone, and does not import vitest
 * (vi.waitFor only works inside the runner; bench/ uses this too). The default timeout is
 * generous because the suites share two loaded cores.
 */
export async function eventually<T>(
  check: () => T | NotYet | Promise<T | NotYet>,
  what: string | (() => string),
  timeoutMs = 60_000,
  intervalMs = 50,
): Promise<Exclude<T, NotYet>> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, NotYet>;
    } catch (err) {
      last = err;
    }
    if (performance.now() > deadline) {
      const described = typeof what === 'string' ? what : what();
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${described}${last ? `: ${String(last)}` : ''}`, { cause: last });
    }
    await sleep(intervalMs);
  }
}
