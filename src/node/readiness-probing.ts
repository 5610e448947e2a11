import type { ProbeTiming } from './pod-plan.ts';

/** The wait between start-up probes while a freshly spawned server is expected to come up. */
export const startupStepMs = 50;
/** How many start-up probes run `startupStepMs` apart (about the first second) before the waits double. */
export const startupFastProbes = 20;

export interface ReadinessProbingOptions {
  timing: ProbeTiming;
  /** Longest wait between probes however long periodSeconds is: local probes are cheap. */
  maxIntervalMs: number;
  /** One probe attempt: whether it passed. */
  probe: () => Promise<boolean>;
  /** Readiness changed (it starts false). */
  onReady: (ready: boolean) => void;
  /** A failure worth a "Readiness probe failed" Warning (not every failure is). */
  onUnhealthy: () => void;
  /** Aborted when the container exits or the pod stops: probing ends, nothing more is reported. */
  signal: AbortSignal;
}

/**
 * The wait after the `attempt`-th probe (1 = the first) while no probe has passed yet since the
 * container started: 50 ms for about the first second (the workers listen a few hundred ms after
 * spawn, later on a loaded machine, and a refused local connect costs next to nothing), then
 * doubling from 100 ms, capped at the steady interval.
 */
export function startupDelayMs(attempt: number, intervalMs: number): number {
  const doublings = Math.min(Math.max(attempt - startupFastProbes, 0), 30);
  return Math.min(startupStepMs * 2 ** doublings, intervalMs);
}

/**
 * Readiness probing of one container start, as the kubelet's readiness worker does it: nothing
 * during initialDelaySeconds, then probes; successThreshold passes in a row make the container
 * ready, failureThreshold failures in a row make a ready one unready. Until the first probe
 * passes, probes follow the start-up schedule instead of the period. A restarted container
 * gets a fresh call, so start-up probing begins again.
 *
 * Events: the kubelet records a Warning for every failed probe, so a server not yet listening at
 * its first probe shows one "Readiness probe failed" per start. Here the fast start-up failures
 * are not reported until they have lasted one interval (what the kubelet's second probe would
 * see); after that, and after the first pass, the first failure of each run is reported once.
 */
export async function runReadinessProbing(o: ReadinessProbingOptions): Promise<void> {
  const { timing, signal } = o;
  const intervalMs = Math.min(timing.periodMs, o.maxIntervalMs);
  if (timing.initialDelayMs > 0 && !(await abortableWait(timing.initialDelayMs, signal))) return;
  let ready = false;
  let passedOnce = false;
  let attempt = 0;
  let startupElapsedMs = 0;
  let startupReported = false;
  let passes = 0;
  let failures = 0;
  while (!signal.aborted) {
    attempt += 1;
    const pass = await o.probe();
    if (signal.aborted) return;
    passes = pass ? passes + 1 : 0;
    failures = pass ? 0 : failures + 1;
    passedOnce ||= pass;
    if (!pass) {
      if (passedOnce && failures === 1) o.onUnhealthy();
      else if (!passedOnce && !startupReported && startupElapsedMs >= intervalMs) {
        startupReported = true;
        o.onUnhealthy();
      }
    }
    const next: boolean = ready ? failures < timing.failureThreshold : passes >= timing.successThreshold;
    if (next !== ready) {
      ready = next;
      o.onReady(ready);
    }
    const delay = passedOnce ? intervalMs : startupDelayMs(attempt, intervalMs);
    if (!passedOnce) startupElapsedMs += delay;
    if (!(await abortableWait(delay, signal))) return;
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts (global timers, so fake timers drive it). */
function abortableWait(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
