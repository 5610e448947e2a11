/**
 * The kubelet's crash-loop back-off: the delay before restart N doubles from `initialMs` up to
 * `maxMs`, and a container that stayed up for twice the cap starts again from the beginning.
 */
export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { initialMs: 1_000, maxMs: 10_000 };

/** Delay before the restart that follows `consecutiveFailures` quick exits (1 = the first). */
export function restartDelayMs(consecutiveFailures: number, policy: BackoffPolicy = defaultBackoff): number {
  if (consecutiveFailures <= 0) return 0;
  const exp = Math.min(consecutiveFailures - 1, 30);
  return Math.min(policy.initialMs * 2 ** exp, policy.maxMs);
}

/** Whether a run of `ranMs` was long enough to forget earlier failures. */
export function resetsBackoff(ranMs: number, policy: BackoffPolicy = defaultBackoff): boolean {
  return ranMs >= 2 * policy.maxMs;
}

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

export function shouldRestart(policy: RestartPolicy | undefined, exitCode: number): boolean {
  const p = policy ?? 'Always';
  return p === 'Always' || (p === 'OnFailure' && exitCode !== 0);
}
