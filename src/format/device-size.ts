import { open, type FileHandle } from 'node:fs/promises';
import { targetError } from './target-io.ts';

/** True when one byte can be read at `offset`. */
async function readableAt(handle: FileHandle, probe: Buffer, offset: number): Promise<boolean> {
  return (await handle.read(probe, 0, 1, offset)).bytesRead === 1;
}

/**
 * Bytes a block device (or regular file) holds: the one size rule of the engine and the
 * workers. A regular file's size is its stat size; a block device's stat size is 0, so its end
 * is found as seeking to the end would (CDI asks `blockdev --getsize64`, the same number): the
 * first offset where a read returns nothing, by doubling and then halving. No sysfs, so it holds
 * in any container and for any device number.
 */
export async function deviceSize(path: string): Promise<number> {
  const handle = await open(path, 'r').catch((err: unknown) => { throw targetError(path, err); });
  try {
    const info = await handle.stat();
    if (!info.isBlockDevice()) return info.size;
    const probe = Buffer.alloc(1);
    if (!(await readableAt(handle, probe, 0))) return 0;
    let lo = 1; // a read at lo - 1 succeeded
    let hi = 512; // grows until a read at hi - 1 fails
    while (await readableAt(handle, probe, hi - 1)) {
      lo = hi;
      hi *= 2;
    }
    while (hi - lo > 1) {
      const mid = Math.floor((lo + hi) / 2);
      if (await readableAt(handle, probe, mid - 1)) lo = mid;
      else hi = mid;
    }
    return lo;
  } catch (err) {
    throw targetError(path, err);
  } finally {
    await handle.close();
  }
}
