/** Positioned I/O helpers shared by the file and block-device sinks. */
import type { FileHandle } from 'node:fs/promises';
import { CdiError } from '../api/errors.ts';
import type { WriteQueue } from './write-queue.ts';

const zeroChunk = Buffer.alloc(1 << 20);

export async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < data.byteLength) {
    const { bytesWritten } = await handle.write(data, done, data.byteLength - done, position + done);
    done += bytesWritten;
  }
}

/** Queues writes of zeros over [start, end) in 1 MiB pieces. */
export async function queueZeros(queue: WriteQueue, handle: FileHandle, start: number, end: number, path: string): Promise<void> {
  for (let at = start; at < end; at += zeroChunk.byteLength) {
    const piece = zeroChunk.subarray(0, Math.min(zeroChunk.byteLength, end - at));
    const position = at;
    await queue.push(piece.byteLength, () => writeFully(handle, piece, position).catch((err: unknown) => { throw targetError(path, err); }));
  }
}

export function checkCapacity(end: number, capacity: number): void {
  if (end > capacity) throw new CdiError('CDI_ERR_TOO_LARGE', [end, capacity]);
}

/**
 * Classifies an I/O failure on the target: out of space is a capacity problem, as in CDI. EFBIG is
 * how a volume whose capacity is enforced by a file-size limit (the local node agent) reports full.
 */
export function targetError(path: string, err: unknown): CdiError {
  if (err instanceof CdiError) return err;
  const code = (err as { code?: string }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return new CdiError('CDI_ERR_NO_SPACE', [path, message], { cause: err });
  return new CdiError('CDI_ERR_TARGET', [path, message], { cause: err });
}
