import { CdiError } from '../api/errors.ts';

/** The coded error for a conversion stopped by its AbortSignal. */
export function abortError(signal: AbortSignal): CdiError {
  const reason: unknown = signal.reason;
  return new CdiError('CDI_ERR_ABORTED', [reason instanceof Error ? reason.message : String(reason ?? 'aborted')], { cause: reason });
}
