import { stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../api/logger.ts';
import type { ConvertTarget } from '../format/index.ts';
import { scratchSpillLimit } from '../worker/scratch-space.ts';
import { volumeSpace, type VolumeSpace } from '../worker/volume-capacity.ts';
import type { RunEngine } from './session.ts';

export interface VolumeOptions {
  /** DESTINATION: the disk image file, the block device, or (archive content) the volume directory. */
  target: string;
  /** UPLOAD_IMAGE_SIZE in bytes. */
  imageSize: number | undefined;
  filesystemOverhead: number;
  preallocation: boolean;
  scratchDir: string | undefined;
  logger: Logger;
}

/** Runs the format engine into the volume, with CDI's capacity rules for filesystem volumes. */
export function volumeEngine(volume: VolumeOptions): RunEngine {
  return async ({ stream, size, contentType, checksum, signal }) => {
    // The format engine loads with the first upload, not at start-up.
    const { convert } = await import('../format/index.ts');
    const info = await stat(volume.target).catch(() => undefined);
    let target: ConvertTarget;
    let space: VolumeSpace | undefined;
    if (info?.isBlockDevice()) {
      // Archive content on a block volume is refused by the engine (it needs a directory); the
      // engine takes a block device's size itself.
      target = { kind: 'block', path: volume.target };
    } else {
      const isDirectory = info?.isDirectory() === true;
      const dir = isDirectory ? volume.target : path.dirname(volume.target);
      target = contentType === 'archive' ? { kind: 'directory', path: dir } : { kind: 'file', path: volume.target };
      space = await volumeSpace(target, volume.imageSize, volume.filesystemOverhead);
    }
    const capacity = space?.capacity;
    const scratchDir = volume.scratchDir ?? os.tmpdir();
    const spillLimit = await scratchSpillLimit(scratchDir, 'upload server');
    volume.logger.info({ target, capacity, size, scratchDir, spillLimit }, 'writing upload into the volume');
    return convert(
      { kind: 'stream', stream, ...(size === undefined ? {} : { size }) },
      target,
      {
        contentType,
        // CDI grows the image to the usable size of the volume it was asked for.
        ...(capacity === undefined ? {} : { capacity }),
        ...(space?.size === undefined ? {} : { size: space.size }),
        ...(checksum === undefined ? {} : { checksum }),
        preallocation: volume.preallocation,
        scratchDir,
        spillLimit,
        signal,
        logger: volume.logger,
      },
    );
  };
}
