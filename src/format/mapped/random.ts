/**
 * Random-access reader over a block map without per-block prefixes (VHDX, fixed VHD): blocks in
 * guest order, host-contiguous ones joined into reads of up to MAX_READ bytes (the file input's
 * pooled buffer size, so reads reuse buffers), several reads in flight. A dynamic VHD, whose
 * blocks start with a sector bitmap, is read in one pass (vhd/reader.ts).
 */
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import type { Extent } from '../extent.ts';
import { abortError } from '../abort.ts';
import type { BlockMap } from './blocks.ts';

const MAX_READ = 2 * 1024 * 1024;
const READS_IN_FLIGHT = 4;

interface Job {
  host: number;
  length: number;
  guest: number;
}

export type MappedFormat = 'vhd' | 'vhdx';

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
  const inflight: Promise<Extent>[] = [];
  try {
    for (const job of jobs(map)) {
      const p = run(input, job, signal);
      p.catch(() => undefined);
      inflight.push(p);
      if (inflight.length >= READS_IN_FLIGHT) yield await inflight.shift()!;
    }
    while (inflight.length > 0) yield await inflight.shift()!;
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw err;
  }
}

function* jobs(map: BlockMap): Generator<Job> {
  const blocks = [...map.blocks].sort((a, b) => a.guest - b.guest);
  let job: Job | undefined;
  for (const block of blocks) {
    if (block.prefix > 0) throw new Error('mappedRandomReader reads blocks without a prefix only');
    for (let at = 0; at < block.length; at += MAX_READ) {
      const host = block.host + at;
      const guest = block.guest + at;
      const length = Math.min(MAX_READ, block.length - at);
      if (job && job.host + job.length === host && job.guest + job.length === guest && job.length + length <= MAX_READ) {
        job.length += length;
        continue;
      }
      if (job) yield job;
      job = { host, length, guest };
    }
  }
  if (job) yield job;
}

async function run(input: RandomAccessInput, job: Job, signal: AbortSignal | undefined): Promise<Extent> {
  const { bytes, lease } = input.readLeased
    ? await input.readLeased(job.host, job.length, signal)
    : { bytes: await input.read(job.host, job.length, signal), lease: undefined };
  return { kind: 'data', offset: job.guest, data: bytes, ...(lease ? { lease } : {}) };
}
