import { statfs } from 'node:fs/promises';
import { CdiError } from '../api/errors.ts';

/**
 * Share of the scratch file system a spill leaves free: the kubelet's default hard eviction
 * threshold (`nodefs.available<10%`), below which a node starts evicting pods.
 */
const reservedShare = 0.1;

/**
 * The most a streamed image may keep in the scratch directory: the free space of its file system
 * (f_bavail × f_bsize) less a tenth of that file system's size, so an image whose tables come after
 * its data, or a stream that sends data no table maps, stops with CDI_ERR_SCRATCH_LIMIT before it
 * fills the node. The format engine also bounds it by the target's capacity.
 */
export async function scratchSpillLimit(dir: string, worker: string): Promise<number> {
  try {
    const fs = await statfs(dir);
    return Math.max(0, fs.bavail * fs.bsize - Math.ceil(fs.blocks * fs.bsize * reservedShare));
  } catch (err) {
    throw new CdiError('CDI_ERR_WORKER_CONFIG', [worker, `scratch directory ${dir}: ${(err as Error).message}`], { cause: err });
  }
}
