import { vi } from 'vitest';

type NotYet = undefined | null | false;

/**
 * The suites' one polling helper: retries `check` (on vi.waitFor, so fake timers do not stall it)
 * until it gives a value other than undefined, null or false, and returns that value. A throw
 * from `check` counts as "not yet"; on timeout the error names `what` and the last throw.
 * The default timeout is generous because the suites share two loaded cores.
 */
export async function eventually<T>(
  check: () => T | NotYet | Promise<T | NotYet>,
  what: string | (() => string),
  timeoutMs = 60_000,
): Promise<Exclude<T, NotYet>> {
  const describe = () => (typeof what === 'string' ? what : what());
  return vi.waitFor(async () => {
    let value: T | NotYet;
    try {
      value = await check();
    } catch (err) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}: ${String(err)}`, { cause: err });
    }
    if (value === undefined || value === null || value === false) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    return value as Exclude<T, NotYet>;
  }, { timeout: timeoutMs, interval: 50 });
}
