import { writeFile } from 'node:fs/promises';

/** CDI's TerminationMessage (pkg/common), written as JSON on success; at most 4096 bytes. */
export interface TerminationMessage {
  message?: string;
  preallocationApplied?: boolean;
  deadlinePassed?: boolean;
}

export async function writeTerminationMessage(file: string, message: TerminationMessage): Promise<void> {
  const text = JSON.stringify(message);
  if (Buffer.byteLength(text) > 4096) throw new Error('termination message is longer than 4096 bytes');
  await writeFile(file, text);
}
