import { writeFile } from 'node:fs/promises';
import type { ImportStatus } from './status.ts';

/** CDI's termination message (JSON on exit 0), plus the stage and bytes done (CDI issues #4021, #1502). */
export interface TerminationMessage {
  scratchSpaceRequired?: boolean;
  preallocationApplied?: boolean;
  deadlinePassed?: boolean;
  labels?: Record<string, string>;
  message?: string;
  stage?: string;
  bytesDone?: number;
}

/** Kubernetes keeps at most 4096 bytes of a termination message. */
export const terminationLimit = 4096;

function truncateUtf8(text: string, limit: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.byteLength <= limit) return text;
  let end = limit;
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--; // never cut a character in half
  return bytes.subarray(0, end).toString('utf8');
}

/** Success (or CDI's exit-0 failures like a checksum mismatch): JSON, trimmed to fit. */
export function successMessage(message: TerminationMessage): string {
  let text = JSON.stringify(message);
  if (Buffer.byteLength(text) > terminationLimit && message.labels) text = JSON.stringify({ ...message, labels: undefined });
  if (Buffer.byteLength(text) > terminationLimit && message.message) {
    const over = Buffer.byteLength(text) - terminationLimit;
    text = JSON.stringify({ ...message, labels: undefined, message: truncateUtf8(message.message, Math.max(0, Buffer.byteLength(message.message) - over - 8)) });
  }
  return text;
}

/** Failures are plain text as in CDI ("Unable to process data: …"), with the stage and bytes done appended. */
export function failureMessage(text: string, status: Pick<ImportStatus, 'stage' | 'bytesDone'>): string {
  const suffix = ` (stage: ${status.stage}, ${status.bytesDone()} bytes done)`;
  return truncateUtf8(text, terminationLimit - Buffer.byteLength(suffix)) + suffix;
}

export async function writeTermination(file: string, text: string): Promise<void> {
  await writeFile(file, truncateUtf8(text, terminationLimit));
}
