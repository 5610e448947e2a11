import { writeFile } from 'node:fs/promises';
import { LocalEnv, PodPaths } from '../api/env.ts';

/**
 * CDI's termination message (pkg/common TerminationMessage), written as JSON when a worker
 * succeeds (and on CDI's exit-0 failures such as a checksum mismatch). `stage` and `bytesDone`
 * are ours (CDI issues #4021, #1502).
 */
export interface TerminationMessage {
  message?: string;
  scratchSpaceRequired?: boolean;
  preallocationApplied?: boolean;
  deadlinePassed?: boolean;
  labels?: Record<string, string>;
  stage?: string;
  bytesDone?: number;
}

/** The kubelet keeps at most 4096 bytes of a container's termination message. */
export const terminationLimit = 4096;

/** Where the worker writes it: /dev/termination-log in a pod, CDI_TERMINATION_LOG when run locally. */
export function terminationLogPath(env: NodeJS.ProcessEnv): string {
  return env[LocalEnv.terminationLog] || PodPaths.terminationLog;
}

/** The longest prefix of `text` that fits in `limit` UTF-8 bytes without cutting a character. */
export function truncateUtf8(text: string, limit: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.byteLength <= limit) return text;
  let end = Math.max(0, limit);
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('utf8');
}

/** JSON that fits the limit: labels are dropped first, then the message is shortened. */
export function successMessage(message: TerminationMessage): string {
  let text = JSON.stringify(message);
  if (Buffer.byteLength(text) <= terminationLimit) return text;
  const { labels: _dropped, ...rest } = message;
  text = JSON.stringify(rest);
  if (Buffer.byteLength(text) <= terminationLimit || !rest.message) return text;
  // The longest message whose JSON fits: escapes make JSON longer than the message's own bytes.
  const full = rest.message;
  const withMessage = (limit: number): string => JSON.stringify({ ...rest, message: truncateUtf8(full, limit) });
  let lo = 0;
  let hi = Buffer.byteLength(full);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(withMessage(mid)) <= terminationLimit) lo = mid;
    else hi = mid - 1;
  }
  return withMessage(lo);
}

/**
 * A failure as CDI writes it: plain text on one line (CDI replaces newlines with spaces), cut to
 * the limit, with `suffix` (the importer's stage and bytes done) always kept whole at the end.
 */
export function failureMessage(text: string, suffix = ''): string {
  return truncateUtf8(text.replace(/\r?\n/g, ' '), terminationLimit - Buffer.byteLength(suffix)) + suffix;
}

export async function writeTermination(file: string, text: string): Promise<void> {
  await writeFile(file, truncateUtf8(text, terminationLimit));
}
