/**
 * Random-access reader over a block map: blocks in guest order, host-contiguous ones joined into
 * reads of up to MAX_READ bytes (the file input's pooled buffer size, so reads reuse buffers),
 * several reads in flight. A block's prefix is read on its own as its first data piece is
 * issued (outside the window of data reads): the data pieces wait for what it says is present,
 * then are cut by it.
 */
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import { holdPerExtent, type Extent } from '../extent.ts';
import { abortError } from '../qcow2/abort.ts';
import type { BlockMap } from './blocks.ts';

const MAX_READ = 2 * 1024 * 1024;
const READS_IN_FLIGHT = 4;

type Ranges = ReadonlyArray<readonly [number, number]>;

interface Job {
  host: number;
  length: number;
  guest: number;
  /** For data pieces of a block with a prefix: its present ranges, in block offsets. */
  ranges?: Promise<Ranges>;
  /** Offset of the piece's first byte in its block. */
  at: number;
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
  const inflight: Promise<Extent[]>[] = [];
  try {
    for (const job of jobs(input, map, signal)) {
      const p = run(input, job, signal);
      p.catch(() => undefined);
      inflight.push(p);
      if (inflight.length >= READS_IN_FLIGHT) yield* await inflight.shift()!;
    }
    while (inflight.length > 0) yield* await inflight.shift()!;
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw err;
  }
}

function* jobs(input: RandomAccessInput, map: BlockMap, signal: AbortSignal | undefined): Generator<Job> {
  const blocks = [...map.blocks].sort((a, b) => a.guest - b.guest);
  let job: Job | undefined;
  for (const block of blocks) {
    let ranges: Promise<Ranges> | undefined;
    if (block.prefix > 0) {
      if (job) yield job;
      job = undefined;
      // issued as the generator reaches the block, alongside its first data read
      ranges = input.read(block.host, block.prefix, signal).then((prefix) => map.present!(prefix, block.length));
      ranges.catch(() => undefined);
    }
    const data = block.host + block.prefix;
    for (let at = 0; at < block.length; at += MAX_READ) {
      const host = data + at;
      const guest = block.guest + at;
      const length = Math.min(MAX_READ, block.length - at);
      if (!ranges && job && !job.ranges && job.host + job.length === host && job.guest + job.length === guest && job.length + length <= MAX_READ) {
        job.length += length;
        continue;
      }
      if (job) yield job;
      job = { host, length, guest, at, ...(ranges ? { ranges } : {}) };
      if (ranges) {
        yield job;
        job = undefined;
      }
    }
  }
  if (job) yield job;
}

async function run(input: RandomAccessInput, job: Job, signal: AbortSignal | undefined): Promise<Extent[]> {
  const { bytes, lease } = input.readLeased
    ? await input.readLeased(job.host, job.length, signal)
    : { bytes: await input.read(job.host, job.length, signal), lease: undefined };
  const out: Extent[] = [];
  const end = job.at + job.length;
  for (const [start, stop] of job.ranges ? await job.ranges : [[job.at, end] as const]) {
    const s = Math.max(start, job.at);
    const e = Math.min(stop, end);
    if (s < e) out.push({ kind: 'data', offset: job.guest + s - job.at, data: bytes.subarray(s - job.at, e - job.at), ...(lease ? { lease } : {}) });
  }
  holdPerExtent(out, lease);
  return out;
}
