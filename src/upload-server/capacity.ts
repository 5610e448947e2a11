import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';

/**
 * CDI's availableSpace for a filesystem volume: the free space where the target lives (plus what
 * an earlier attempt's file occupies, as it is replaced), capped by the requested image size.
 */
export async function availableSpace(target: string, isDirectory: boolean, imageSize: number | undefined): Promise<number> {
  const dir = isDirectory ? target : path.dirname(target);
  const fs = await statfs(dir);
  let free = fs.bavail * fs.bsize;
  if (!isDirectory) {
    const existing = await stat(target).catch(() => undefined);
    if (existing?.isFile()) free += existing.blocks * 512;
  }
  return imageSize === undefined ? free : Math.min(free, imageSize);
}
