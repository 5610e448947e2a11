/**
 * Random-access reader over a block map without per-block prefixes (VDI, VHDX, fixed VHD):
 * blocks in guest order, host-contiguous ones joined into reads of up to MAX_DATA_READ bytes,
 * several reads in flight. A dynamic VHD, whose blocks start with a sector bitmap, is read in one
 * pass (vhd/reader.ts).
 */
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import type { Extent } from '../extent.ts';
import { dataExtent, MAX_DATA_READ, readInFlight, readRange } from '../random-read.ts';
import type { BlockMap } from './blocks.ts';

interface Job {
  host: number;
  length: number;
  guest: number;
}

export type MappedFormat = 'vdi' | 'vhd' | 'vhdx';

export function mappedRandomReader(format: MappedFormat, virtualSize: number, input: RandomAccessInput, map: BlockMap, signal: AbortSignal | undefined): ImageReader {
  return {
    format,
    virtualSize,
    spillBytes: () => 0,
    extents: () => extents(input, map, signal),
  };
}

async function* extents(input: RandomAccessInput, map: BlockMap, signal: AbortSignal | undefined): AsyncGenerator<Extent> {
  for (const z of map.zeros) yield { kind: 'zero', offset: z.offset, length: z.length };
  yield* readInFlight(jobs(map), async (job) => [dataExtent(job.guest, await readRange(input, job.host, job.length, signal))], signal);
}

function* jobs(map: BlockMap): Generator<Job> {
  const blocks = [...map.blocks].sort((a, b) => a.guest - b.guest);
  let job: Job | undefined;
  for (const block of blocks) {
    if (block.prefix > 0) throw new Error('mappedRandomReader reads blocks without a prefix only');
    for (let at = 0; at < block.length; at += MAX_DATA_READ) {
      const host = block.host + at;
      const guest = block.guest + at;
      const length = Math.min(MAX_DATA_READ, block.length - at);
      if (job && job.host + job.length === host && job.guest + job.length === guest && job.length + length <= MAX_DATA_READ) {
        job.length += length;
        continue;
      }
      if (job) yield job;
      job = { host, length, guest };
    }
  }
  if (job) yield job;
}
