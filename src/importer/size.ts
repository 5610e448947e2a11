import { readFile, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { CdiError } from '../api/errors.ts';
import { usableSpace } from '../api/quantity.ts';
import type { ImportConfig } from './config.ts';


/** Bytes a block device holds (from sysfs; Node has no BLKGETSIZE64), or a regular file's size. */
export async function blockDeviceSize(device: string): Promise<number> {
  const info = await stat(device);
  if (!info.isBlockDevice()) return info.size;
  const major = Math.floor(info.rdev / 256) & 0xfff;
  const minor = (info.rdev & 0xff) | ((info.rdev >> 12) & 0xfff00);
  return Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim()) * 512;
}

export interface TargetSpace {
  /** Bytes the image may occupy (the engine refuses larger images: "A larger PVC is required"). */
  capacity: number | undefined;
  /** Size a file target is grown to (CDI's resize); undefined leaves the image's own size. */
  size: number | undefined;
}

/**
 * CDI's size rule: a block target holds its device size; a file target holds
 * min(free space, requested size) less the filesystem overhead and is grown to that size.
 */
export async function targetSpace(config: ImportConfig): Promise<TargetSpace> {
  if (config.target.kind === 'block') {
    const size = await blockDeviceSize(config.target.path).catch((err: unknown) => {
      throw new CdiError('CDI_ERR_TARGET', [config.target.path, (err as Error).message], { cause: err });
    });
    return { capacity: size, size: undefined };
  }
  const dir = config.target.kind === 'directory' ? config.target.path : path.dirname(config.target.path);
  const fs = await statfs(dir).catch((err: unknown) => {
    throw new CdiError('CDI_ERR_TARGET', [dir, (err as Error).message], { cause: err });
  });
  const free = fs.bavail * fs.bsize;
  const available = Math.min(free, config.imageSize ?? Infinity);
  const usable = usableSpace(available, config.filesystemOverhead);
  return { capacity: usable, size: config.imageSize === undefined || config.target.kind === 'directory' ? undefined : usable };
}
