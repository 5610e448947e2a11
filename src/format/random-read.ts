/**
 * What the random-access readers share: a read into a pooled buffer where the input lends one,
 * and a window of reads in flight whose extents come out in the order the jobs were issued.
 */
import { abortError } from './abort.ts';
import type { Leased } from './buffer-pool.ts';
import type { RandomAccessInput } from './contracts.ts';
import type { Extent } from './extent.ts';

/** Largest single read of stored data: the file input's pooled buffer size, so reads reuse buffers. */
export const MAX_DATA_READ = 2 * 1024 * 1024;
const READS_IN_FLIGHT = 4;

/** [offset, offset+length) of `input`, pooled when the input lends buffers (then the caller holds one lease). */
export async function readRange(input: RandomAccessInput, offset: number, length: number, signal: AbortSignal | undefined): Promise<Leased> {
  if (input.readLeased) return input.readLeased(offset, length, signal);
  return { bytes: await input.read(offset, length, signal), lease: undefined };
}

/** A data extent over a whole read, handing its lease on. */
export function dataExtent(guest: number, { bytes, lease }: Leased): Extent {
  return { kind: 'data', offset: guest, data: bytes, ...(lease ? { lease } : {}) };
}

/** Runs `run` on each job with a few in flight, none issued after an abort; an error after an abort is reported as the abort. */
export async function* readInFlight<J>(
  jobs: AsyncIterable<J> | Iterable<J>,
  run: (job: J) => Promise<readonly Extent[]>,
  signal: AbortSignal | undefined,
): AsyncGenerator<Extent> {
  const pending: Promise<readonly Extent[]>[] = [];
  try {
    for await (const job of jobs) {
      signal?.throwIfAborted();
      const p = run(job);
      p.catch(() => undefined);
      pending.push(p);
      if (pending.length >= READS_IN_FLIGHT) yield* await pending.shift()!;
    }
    while (pending.length > 0) yield* await pending.shift()!;
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw err;
  }
}
