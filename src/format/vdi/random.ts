/**
 * Random-access VDI reader (files, HTTP Range): header, block map, then the allocated blocks in
 * guest order. Guest-consecutive blocks stored one after another become one read, and several
 * reads are in flight.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import type { Extent } from '../extent.ts';
import { abortError } from '../abort.ts';
import { decodeVdiMap, ENTRY_DISCARDED, ENTRY_UNALLOCATED, parseVdiHeader, VDI_HEADER_BYTES, type VdiHeader } from './header.ts';

/** Largest single read: two blocks, the size of the file input's pooled buffers (bigger reads are not pooled). */
const MAX_READ = 2 * 1024 * 1024;
const READS_IN_FLIGHT = 4;

/** Guest bytes [guest, guest+length) stored at host offset `host`, or zeros when `host` is undefined. */
interface Run {
  guest: number;
  length: number;
  host: number | undefined;
}

class RandomReader implements ImageReader {
  readonly format = 'vdi';
  readonly virtualSize: number;
  private readonly input: RandomAccessInput;
  private readonly h: VdiHeader;
  private readonly signal: AbortSignal | undefined;

  constructor(input: RandomAccessInput, h: VdiHeader, signal: AbortSignal | undefined) {
    this.input = input;
    this.h = h;
    this.virtualSize = h.virtualSize;
    this.signal = signal;
  }

  spillBytes(): number {
    return 0;
  }

  async *extents(): AsyncIterable<Extent> {
    const inflight: Promise<Extent[]>[] = [];
    try {
      for await (const run of this.runs()) {
        this.signal?.throwIfAborted();
        const p = this.read(run);
        p.catch(() => undefined);
        inflight.push(p);
        if (inflight.length >= READS_IN_FLIGHT) yield* await inflight.shift()!;
      }
      while (inflight.length > 0) yield* await inflight.shift()!;
    } catch (err) {
      if (this.signal?.aborted) throw abortError(this.signal);
      throw err;
    }
  }

  /** The block map as guest runs of stored data (merged while host-contiguous) and of zeros; unallocated blocks yield nothing. */
  private async *runs(): AsyncGenerator<Run> {
    const h = this.h;
    if (h.blocks === 0) return;
    const map = decodeVdiMap(await this.input.read(h.mapOffset, h.mapBytes, this.signal), h, this.input.size);
    let run: Run | undefined;
    for (let i = 0; i < h.blocks; i++) {
      const entry = map[i]!;
      if (entry === ENTRY_UNALLOCATED) continue;
      const guest = i * h.blockSize;
      const length = Math.min(h.blockSize, h.virtualSize - guest);
      const host = entry === ENTRY_DISCARDED ? undefined : h.dataOffset + entry * h.blockSize;
      const joins = run !== undefined && run.guest + run.length === guest && (host === undefined
        ? run.host === undefined
        : run.host !== undefined && run.host + run.length === host && run.length + length <= MAX_READ);
      if (joins) run!.length += length;
      else {
        if (run) yield run;
        run = { guest, length, host };
      }
    }
    if (run) yield run;
  }

  private async read(run: Run): Promise<Extent[]> {
    if (run.host === undefined) return [{ kind: 'zero', offset: run.guest, length: run.length }];
    if (!this.input.readLeased) return [{ kind: 'data', offset: run.guest, data: await this.input.read(run.host, run.length, this.signal) }];
    const { bytes, lease } = await this.input.readLeased(run.host, run.length, this.signal);
    return [{ kind: 'data', offset: run.guest, data: bytes, ...(lease ? { lease } : {}) }];
  }
}

export async function openVdiRandom(input: RandomAccessInput, opts: { signal?: AbortSignal }): Promise<ImageReader> {
  if (input.size < VDI_HEADER_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`the VDI header needs ${VDI_HEADER_BYTES} bytes, the image has ${input.size}`]);
  const header = parseVdiHeader(await input.read(0, VDI_HEADER_BYTES, opts.signal), input.size);
  return new RandomReader(input, header, opts.signal);
}
