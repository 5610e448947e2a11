/**
 * A valid qcow2 that a one-pass reader must keep mostly in scratch: 1 MiB of guest space whose
 * whole disk was rewritten under four stacked internal snapshots, so about 3 MiB of snapshot
 * data (which no active table maps) passes before the active tables. Its patterns gzip to a few
 * KiB: a small download that asks for three times the target's size in scratch.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { cachedImage, type CachedImage } from './cached-image.ts';
import { qemuImg, qemuIo } from './qemu.ts';

export const stackedSnapshotsVirtualSize = 1 << 20;

export function stackedSnapshotsImage(): Promise<CachedImage> {
  return cachedImage('qcow2', 'spill-v1', 'qcow2', {
    name: 'stacked-snapshots',
    async build(file) {
      await qemuImg('create', '-q', '-f', 'qcow2', '-o', 'cluster_size=4096', file, String(stackedSnapshotsVirtualSize));
      for (let i = 1; i <= 4; i++) {
        await qemuIo(file, 'qcow2', `write -q -P ${i * 17} 0 1M`);
        await qemuImg('snapshot', '-c', `s${i}`, file);
      }
      await qemuIo(file, 'qcow2', 'write -q -P 99 0 512k');
    },
  });
}

/** `file` gzipped to `out`: a compressed source is always read as a stream. */
export async function gzipTo(file: string, out: string): Promise<void> {
  await pipeline(createReadStream(file), createGzip(), createWriteStream(out));
}
