import { open } from 'node:fs/promises';
import { CdiError } from '../api/errors.ts';

const MiB = 1 << 20;

export interface BlankTarget {
  kind: 'file' | 'block';
  path: string;
  /** Bytes of the blank disk (a file) or of the device (a block target). */
  size: number;
}

async function writeZeros(path: string, flags: string, size: number, signal?: AbortSignal, onBytes?: (n: number) => void): Promise<void> {
  const handle = await open(path, flags);
  try {
    if (flags === 'w') await handle.truncate(size);
    const zeros = Buffer.alloc(MiB);
    for (let offset = 0; offset < size; offset += MiB) {
      signal?.throwIfAborted();
      const length = Math.min(MiB, size - offset);
      await handle.write(zeros, 0, length, offset);
      onBytes?.(length);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * CDI's blank disk (`source: blank`): a sparse raw file of the usable size, or a block device
 * left as it is. With preallocation every byte is written (Node has no fallocate), as CDI's
 * `dd if=/dev/zero` does for block devices.
 */
export async function createBlank(
  target: BlankTarget, preallocation: boolean, signal?: AbortSignal, onBytes?: (n: number) => void,
): Promise<{ preallocationApplied: boolean }> {
  try {
    if (target.kind === 'block') {
      if (preallocation) await writeZeros(target.path, 'r+', target.size, signal, onBytes);
      return { preallocationApplied: preallocation };
    }
    if (preallocation) {
      await writeZeros(target.path, 'w', target.size, signal, onBytes);
      return { preallocationApplied: true };
    }
    const handle = await open(target.path, 'w', 0o660);
    try {
      await handle.truncate(target.size);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return { preallocationApplied: false };
  } catch (err) {
    if (signal?.aborted || err instanceof CdiError) throw err;
    throw new CdiError('CDI_ERR_TARGET', [target.path, (err as Error).message], { cause: err });
  }
}
