/**
 * Random-access VMDK reader for sparse extents (monolithicSparse and streamOptimized): header,
 * the footer when the grain directory is at the end, the grain directory, then table by table
 * only the allocated grains, in guest order. Host-contiguous grains become one read; compressed
 * grains are read a batch at a time and inflated on the worker pool. Every table and grain is
 * claimed in a host-sector set, so entries that overlap each other or the tables are refused.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import { holdPerExtent, type Extent } from '../extent.ts';
import { dataExtent, MAX_DATA_READ, readInFlight, readRange } from '../random-read.ts';
import { BATCH_INPUT, clustersPerBatch, runInflateBatch } from '../qcow2/inflate-pool.ts';
import { checkDescriptor, MAX_DESCRIPTOR_BYTES } from './descriptor.ts';
import {
  checkFooter, grainGuest, invalid, MARKER_EOS, MARKER_FOOTER, maxCompressedGrain, parseMarker, parseSparseHeader, SECTOR, sectorsOf,
  type SparseHeader,
} from './header.ts';
import { decodeGD, decodeGT, gtBytes, RUN_COMPRESSED, RUN_DATA, RUN_ZERO, RunList } from './tables.ts';
import { UnitSet } from './unit-set.ts';

const GT_PREFETCH = 2;

type Job =
  | { kind: 'zero'; guest: number; length: number }
  | { kind: 'data'; guest: number; host: number; length: number }
  | { kind: 'grains'; start: number; end: number; guest: number[]; host: number[] };

class RandomReader implements ImageReader {
  readonly format = 'vmdk';
  readonly virtualSize: number;
  private readonly input: RandomAccessInput;
  private readonly h: SparseHeader;
  private readonly used: UnitSet;
  private readonly signal: AbortSignal | undefined;
  /** Bytes a grain and its marker may take: a bound for reading a compressed grain whose size is not known yet. */
  private readonly grainSpan: number;

  constructor(input: RandomAccessInput, h: SparseHeader, used: UnitSet, signal: AbortSignal | undefined) {
    this.input = input;
    this.h = h;
    this.virtualSize = h.virtualSize;
    this.used = used;
    this.signal = signal;
    this.grainSpan = sectorsOf(12 + maxCompressedGrain(h.grainSize)) * SECTOR;
  }

  spillBytes(): number {
    return 0;
  }

  extents(): AsyncIterable<Extent> {
    return readInFlight(this.jobs(), (job) => this.run(job), this.signal);
  }

  private claim(host: number, length: number, what: string): void {
    if (!this.used.claim(host / SECTOR, sectorsOf(length))) throw invalid(`the ${what} at offset ${host} overlaps other tables or grains`);
  }

  /** Walks the grain tables in guest order, turning runs into reads. */
  private async *jobs(): AsyncGenerator<Job> {
    const h = this.h;
    if (h.gdEntries === 0) return;
    const gdLength = h.gdEntries * 4;
    if (h.gdOffset + gdLength > this.input.size) throw new CdiError('CDI_ERR_VMDK_OUT_OF_BOUNDS', ['grain directory', h.gdOffset]);
    this.claim(h.gdOffset, gdLength, 'grain directory');
    const gd = decodeGD(await this.input.read(h.gdOffset, gdLength, this.signal), h, this.input.size);
    const tables: number[] = [];
    for (let i = 0; i < gd.length; i++) {
      if (gd[i] === 0) continue;
      this.claim(gd[i]!, gtBytes(h), 'grain table');
      tables.push(i);
    }
    const fetched = new Map<number, Promise<Uint8Array>>();
    const fetch = (n: number): void => {
      const index = tables[n];
      if (index === undefined || fetched.has(n)) return;
      const p = this.input.read(gd[index]!, gtBytes(h), this.signal);
      p.catch(() => undefined);
      fetched.set(n, p);
    };
    const runs = new RunList();
    for (let n = 0; n < tables.length; n++) {
      for (let k = 0; k <= GT_PREFETCH; k++) fetch(n + k);
      const table = await fetched.get(n)!;
      fetched.delete(n);
      this.signal?.throwIfAborted();
      runs.clear();
      decodeGT(table, tables[n]!, h, runs, this.input.size);
      let grains: Extract<Job, { kind: 'grains' }> | undefined;
      const compressed: number[] = [];
      for (let r = 0; r < runs.count; r++) {
        const kind = runs.kind[r]!;
        const guest = runs.guest[r]!;
        const length = runs.length[r]!;
        const host = runs.host[r]!;
        if (kind === RUN_ZERO) yield { kind: 'zero', guest, length };
        else if (kind === RUN_DATA) {
          this.claim(host, length, 'grain');
          for (let done = 0; done < length; done += MAX_DATA_READ) {
            yield { kind: 'data', guest: guest + done, host: host + done, length: Math.min(MAX_DATA_READ, length - done) };
          }
        } else if (kind === RUN_COMPRESSED) compressed.push(r);
      }
      // compressed grains in host order, so neighbours share one read
      compressed.sort((a, b) => runs.host[a]! - runs.host[b]!);
      const perBatch = clustersPerBatch(h.grainSize);
      for (const r of compressed) {
        const host = runs.host[r]!;
        const fits = grains !== undefined && host >= grains.end && host - grains.end <= this.grainSpan
          && host + this.grainSpan - grains.start <= BATCH_INPUT && grains.guest.length < perBatch;
        if (!fits) {
          if (grains) yield grains;
          grains = { kind: 'grains', start: host, end: host, guest: [], host: [] };
        }
        grains!.guest.push(runs.guest[r]!);
        grains!.host.push(host);
        grains!.end = host + SECTOR;
      }
      if (grains) yield grains;
    }
  }

  private async run(job: Job): Promise<Extent[]> {
    if (job.kind === 'zero') return [{ kind: 'zero', offset: job.guest, length: job.length }];
    if (job.kind === 'data') {
      return [dataExtent(job.guest, await readRange(this.input, job.host, job.length, this.signal))];
    }
    return this.grains(job);
  }

  /** Reads a run of compressed grains with their markers, checks each marker, and inflates them as one batch. */
  private async grains(job: Extract<Job, { kind: 'grains' }>): Promise<Extent[]> {
    const end = Math.min(this.input.size, job.host[job.host.length - 1]! + this.grainSpan);
    const { bytes, lease } = await readRange(this.input, job.start, end - job.start, this.signal);
    try {
      return await this.inflate(job, bytes);
    } finally {
      // the inflate pool is done with its input once the batch settles (the worker gets a copy)
      lease?.release();
    }
  }

  private async inflate(job: Extract<Job, { kind: 'grains' }>, bytes: Uint8Array): Promise<Extent[]> {
    const n = job.guest.length;
    const starts: number[] = new Array(n);
    const lengths: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const host = job.host[i]!;
      const at = host - job.start;
      if (at + 12 > bytes.byteLength) throw new CdiError('CDI_ERR_VMDK_OUT_OF_BOUNDS', ['grain', host]);
      const marker = parseMarker(bytes, at);
      if (marker.size === 0) throw invalid(`the grain table maps guest offset ${job.guest[i]} to a metadata marker at ${host}`);
      const guest = grainGuest(this.h, marker);
      if (guest !== job.guest[i]) throw invalid(`the grain at ${host} is marked for guest offset ${guest} but mapped to ${job.guest[i]}`);
      const limit = i + 1 < n ? job.host[i + 1]! - host : bytes.byteLength - at;
      if (12 + marker.size > limit) {
        if (i + 1 < n) throw invalid(`the grain at ${host} overlaps the grain at ${job.host[i + 1]}`);
        throw new CdiError('CDI_ERR_VMDK_OUT_OF_BOUNDS', ['grain', host]);
      }
      this.claim(host, 12 + marker.size, 'grain');
      starts[i] = at + 12;
      lengths[i] = marker.size;
    }
    const grain = this.h.grainSize;
    // qemu-img writes the last grain of a disk whose size is not whole grains only as far as the disk goes
    const outLengths = job.guest.map((g) => Math.min(grain, this.virtualSize - g));
    const result = await runInflateBatch({ codec: 'deflate', clusterSize: grain, input: bytes, starts, lengths, outLengths });
    if (!result.ok) throw new CdiError('CDI_ERR_VMDK_BAD_GRAIN', [job.guest[result.index]!, result.message]);
    const { lease } = result;
    const out = job.guest.map((g, i): Extent => ({
      kind: 'data', offset: g, data: result.output.subarray(i * grain, i * grain + outLengths[i]!), ...(lease ? { lease } : {}),
    }));
    holdPerExtent(out, lease);
    return out;
  }
}

/** The footer of a streamOptimized image: footer marker, header copy, end-of-stream marker. */
async function readFooter(input: RandomAccessInput, h: SparseHeader, signal: AbortSignal | undefined): Promise<SparseHeader> {
  if (input.size < h.overhead + 3 * SECTOR) throw new CdiError('CDI_ERR_TRUNCATED', ['the vmdk footer is missing']);
  const at = input.size - 3 * SECTOR;
  const bytes = await input.read(at, 3 * SECTOR, signal);
  const marker = parseMarker(bytes, 0);
  const eos = parseMarker(bytes, 2 * SECTOR);
  const type = (offset: number): number => new DataView(bytes.buffer, bytes.byteOffset + offset + 12, 4).getUint32(0, true);
  if (marker.size !== 0 || type(0) !== MARKER_FOOTER || eos.value !== 0 || eos.size !== 0 || type(2 * SECTOR) !== MARKER_EOS) {
    throw invalid('the header says the grain directory is in the footer, but the file does not end with a footer and end-of-stream marker');
  }
  return checkFooter(h, parseSparseHeader(bytes.subarray(SECTOR, 2 * SECTOR), input.size));
}

export async function openVmdkRandom(input: RandomAccessInput, opts: { signal?: AbortSignal }): Promise<ImageReader> {
  if (input.size < SECTOR) throw new CdiError('CDI_ERR_TRUNCATED', [`vmdk header needs ${SECTOR} bytes, the image has ${input.size}`]);
  let h = parseSparseHeader(await input.read(0, SECTOR, opts.signal), input.size);
  const used = new UnitSet();
  used.claim(0, 1);
  if (h.descriptorSize > 0) {
    checkDescriptor(await input.read(h.descriptorOffset, Math.min(h.descriptorSize, MAX_DESCRIPTOR_BYTES), opts.signal), h);
    used.claim(h.descriptorOffset / SECTOR, sectorsOf(h.descriptorSize));
  }
  if (h.gdOffset === -1) {
    h = await readFooter(input, h, opts.signal);
    used.claim(Math.floor(input.size / SECTOR) - 3, 3);
  }
  return new RandomReader(input, h, used, opts.signal);
}
