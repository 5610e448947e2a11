/**
 * Random-access reader over a block map: blocks in guest order, host-contiguous ones joined into
 * reads of up to MAX_READ bytes, several reads in flight. A block with a prefix is read together
 * with it and cut by what the prefix says is present.
 */
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import { holdPerExtent, type Extent } from '../extent.ts';
import { abortError } from '../qcow2/abort.ts';
import type { BlockMap, MappedBlock, PresentRanges } from './blocks.ts';

const MAX_READ = 4 * 1024 * 1024;
const READS_IN_FLIGHT = 4;

interface Job {
  host: number;
  /** Bytes of prefix at the start of the read (0: every byte after it is data). */
  prefix: number;
  guest: number;
  length: number;
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
    for await (const job of jobs(input, map, signal)) {
      const p = run(input, job, map.present, signal);
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

async function* jobs(input: RandomAccessInput, map: BlockMap, signal: AbortSignal | undefined): AsyncGenerator<Job> {
  const blocks = [...map.blocks].sort((a, b) => a.guest - b.guest);
  let job: Job | undefined;
  for (const block of blocks) {
    if (block.prefix > 0) {
      if (job) yield job;
      job = undefined;
      if (block.prefix + block.length <= MAX_READ) yield { host: block.host, prefix: block.prefix, guest: block.guest, length: block.length };
      else yield* bigPrefixed(input, block, map.present!, signal);
      continue;
    }
    for (let done = 0; done < block.length; done += MAX_READ) {
      const host = block.host + done;
      const guest = block.guest + done;
      const length = Math.min(MAX_READ, block.length - done);
      if (job && job.host + job.length === host && job.guest + job.length === guest && job.length + length <= MAX_READ) {
        job.length += length;
        continue;
      }
      if (job) yield job;
      job = { host, prefix: 0, guest, length };
    }
  }
  if (job) yield job;
}

/** A block too big to read with its prefix: the prefix first, then its present ranges in pieces. */
async function* bigPrefixed(input: RandomAccessInput, block: MappedBlock, present: PresentRanges, signal: AbortSignal | undefined): AsyncGenerator<Job> {
  const prefix = await input.read(block.host, block.prefix, signal);
  const data = block.host + block.prefix;
  for (const [start, end] of present(prefix, block.length)) {
    for (let at = start; at < end; at += MAX_READ) {
      yield { host: data + at, prefix: 0, guest: block.guest + at, length: Math.min(MAX_READ, end - at) };
    }
  }
}

async function run(input: RandomAccessInput, job: Job, present: PresentRanges | undefined, signal: AbortSignal | undefined): Promise<Extent[]> {
  const total = job.prefix + job.length;
  const { bytes, lease } = input.readLeased
    ? await input.readLeased(job.host, total, signal)
    : { bytes: await input.read(job.host, total, signal), lease: undefined };
  const data = bytes.subarray(job.prefix);
  const ranges = job.prefix > 0 ? present!(bytes.subarray(0, job.prefix), job.length) : [[0, job.length] as const];
  const out: Extent[] = ranges.map(([start, end]) => ({ kind: 'data', offset: job.guest + start, data: data.subarray(start, end), ...(lease ? { lease } : {}) }));
  holdPerExtent(out, lease);
  return out;
}
