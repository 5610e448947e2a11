import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { CdiError } from '../api/errors.ts';
import { usableSpace } from '../api/quantity.ts';
import { deviceSize } from '../format/device-size.ts';

export type VolumeTarget = { kind: 'file' | 'block' | 'directory'; path: string };

export interface VolumeSpace {
  /** Bytes the image may occupy (the engine refuses larger images: "A larger PVC is required"). */
  capacity: number;
  /** Size a file target is grown to (CDI's resize); undefined leaves the image's own size. */
  size: number | undefined;
}

/**
 * CDI's GetAvailableSpace for a filesystem volume: the free space (f_bavail × f_bsize) where the
 * target lives, plus what an earlier attempt's file there occupies (the import replaces it, so a
 * retried pod must not see its own leftovers as used), capped by the requested size.
 */
export async function availableSpace(target: VolumeTarget, imageSize: number | undefined): Promise<number> {
  const dir = target.kind === 'directory' ? target.path : path.dirname(target.path);
  const fs = await statfs(dir);
  let free = fs.bavail * fs.bsize;
  if (target.kind === 'file') {
    const existing = await stat(target.path).catch(() => undefined);
    if (existing?.isFile()) free += existing.blocks * 512;
  }
  return imageSize === undefined ? free : Math.min(free, imageSize);
}

/**
 * The one capacity rule of the importer and the upload server: a block target holds its device
 * size; a filesystem target holds its available space less the filesystem overhead, and a file
 * target with a requested size is grown to that (CDI's resize to the usable size).
 */
export async function volumeSpace(target: VolumeTarget, imageSize: number | undefined, filesystemOverhead: number): Promise<VolumeSpace> {
  try {
    if (target.kind === 'block') return { capacity: await deviceSize(target.path), size: undefined };
    const capacity = usableSpace(await availableSpace(target, imageSize), filesystemOverhead);
    return { capacity, size: imageSize === undefined || target.kind === 'directory' ? undefined : capacity };
  } catch (err) {
    if (err instanceof CdiError) throw err;
    throw new CdiError('CDI_ERR_TARGET', [target.path, (err as Error).message], { cause: err });
  }
}
