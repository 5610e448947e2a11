/**
 * Random-access qcow2 reader: header, L1, then region by region the L2 table and only the
 * allocated clusters, in guest order. Host-contiguous clusters become one big read, several
 * reads are in flight, and compressed clusters are inflated on worker threads.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import type { Lease } from '../buffer-pool.ts';
import { holdPerExtent, type Extent } from '../extent.ts';
import { HEADER_PREFIX_BYTES, parseHeader, peekClusterSize, type Qcow2Header } from './header.ts';
import { BATCH_INPUT, clustersPerBatch, runInflateBatch } from './inflate-pool.ts';
import { MAX_DATA_READ, readInFlight, readRange } from '../random-read.ts';
import { decodeL1, decodeL2, RUN_DATA, RUN_ZERO, RunList } from './tables.ts';

/** Unneeded host bytes a read may span to join two runs (cheaper than a second request). */
const MAX_GAP = 64 * 1024;
const L2_PREFETCH = 2;

interface Job {
  kind: number;
  start: number;
  end: number;
  guest: number[];
  host: number[];
  length: number[];
  hostLength: number[];
}

function newJob(kind: number, start: number): Job {
  return { kind, start, end: start, guest: [], host: [], length: [], hostLength: [] };
}

class RandomReader implements ImageReader {
  readonly format = 'qcow2';
  readonly virtualSize: number;
  private readonly input: RandomAccessInput;
  private readonly header: Qcow2Header;
  private readonly signal: AbortSignal | undefined;

  constructor(input: RandomAccessInput, header: Qcow2Header, signal: AbortSignal | undefined) {
    this.input = input;
    this.header = header;
    this.virtualSize = header.virtualSize;
    this.signal = signal;
  }

  spillBytes(): number {
    return 0;
  }

  extents(): AsyncIterable<Extent> {
    return readInFlight(this.jobs(), (job) => this.run(job), this.signal);
  }

  /** Walks the L2 tables in guest order, turning runs into coalesced read jobs. */
  private async *jobs(): AsyncGenerator<Job> {
    const h = this.header;
    const size = this.input.size;
    if (h.l1Entries === 0) return;
    const l1 = decodeL1(await this.input.read(h.l1Offset, h.l1Entries * 8, this.signal), h, size);
    const regions: number[] = [];
    for (let i = 0; i < l1.length; i++) if (l1[i] !== 0) regions.push(i);
    const tables = new Map<number, Promise<Uint8Array>>();
    const fetchTable = (n: number): void => {
      const region = regions[n];
      if (region === undefined || tables.has(n)) return;
      const p = this.input.read(l1[region]!, h.clusterSize, this.signal);
      p.catch(() => undefined);
      tables.set(n, p);
    };
    const runs = new RunList();
    const batchClusters = clustersPerBatch(h.clusterSize);
    const dataRead = Math.min(MAX_DATA_READ, this.input.readSize ?? MAX_DATA_READ);
    let job: Job | undefined;
    for (let n = 0; n < regions.length; n++) {
      for (let k = 0; k <= L2_PREFETCH; k++) fetchTable(n + k);
      const table = await tables.get(n)!;
      tables.delete(n);
      this.signal?.throwIfAborted();
      runs.clear();
      decodeL2(table, regions[n]!, h, runs, size);
      for (let r = 0; r < runs.count; r++) {
        const kind = runs.kind[r]!;
        const guest = runs.guest[r]!;
        const length = runs.length[r]!;
        if (kind === RUN_ZERO) {
          const zero = newJob(RUN_ZERO, 0);
          zero.guest.push(guest);
          zero.length.push(length);
          yield zero;
          continue;
        }
        const limit = kind === RUN_DATA ? dataRead : BATCH_INPUT;
        // a data run merged over many clusters is cut into reads of at most `limit`
        const pieceLength = kind === RUN_DATA ? limit : length;
        for (let done = 0; done < length; done += pieceLength) {
          const guestPiece = Math.min(pieceLength, length - done);
          const host = runs.host[r]! + (kind === RUN_DATA ? done : 0);
          const hostLength = kind === RUN_DATA ? guestPiece : runs.hostLength[r]!;
          const hostEnd = host + hostLength;
          const fits = job !== undefined && job.kind === kind && host >= job.start && host <= job.end + MAX_GAP
            && Math.max(job.end, hostEnd) - job.start <= limit && (kind === RUN_DATA || job.guest.length < batchClusters);
          if (!fits) {
            if (job) yield job;
            job = newJob(kind, host);
          }
          job!.end = Math.max(job!.end, hostEnd);
          job!.guest.push(guest + done);
          job!.host.push(host);
          job!.length.push(guestPiece);
          job!.hostLength.push(hostLength);
        }
      }
    }
    if (job) yield job;
  }

  private async run(job: Job): Promise<Extent[]> {
    if (job.kind === RUN_ZERO) return [{ kind: 'zero', offset: job.guest[0]!, length: job.length[0]! }];
    const length = job.end - job.start;
    const { bytes, lease } = await readRange(this.input, job.start, length, this.signal);
    if (job.kind === RUN_DATA) return sliceData(job, bytes, lease);
    const out = await this.inflate(job, bytes);
    // the inflate pool is done with its input once the batch settles (the worker gets a copy)
    lease?.release();
    return out;
  }

  private async inflate(job: Job, bytes: Uint8Array): Promise<Extent[]> {
    const n = job.guest.length;
    const starts: number[] = new Array(n);
    const lengths: number[] = new Array(n);
    for (let i = 0; i < n; i++) {
      starts[i] = job.host[i]! - job.start;
      lengths[i] = job.hostLength[i]!;
    }
    const result = await runInflateBatch({ codec: this.header.compression, clusterSize: this.header.clusterSize, input: bytes, starts, lengths });
    if (!result.ok) throw new CdiError('CDI_ERR_BAD_COMPRESSED_CLUSTER', [job.guest[result.index]!, result.message]);
    const lease = result.lease;
    const cs = this.header.clusterSize;
    const out: Extent[] = [];
    let i = 0;
    while (i < n) {
      // clusters that follow each other in the guest become one extent over the batch output
      let j = i + 1;
      while (j < n && job.guest[j] === job.guest[j - 1]! + cs && job.length[j - 1] === cs) j++;
      const length = (j - i - 1) * cs + job.length[j - 1]!;
      out.push({ kind: 'data', offset: job.guest[i]!, data: result.output.subarray(i * cs, i * cs + length), ...(lease ? { lease } : {}) });
      i = j;
    }
    holdPerExtent(out, lease);
    return out;
  }
}

/** Each extent holds one lease on `bytes` (when pooled), handed over from the read's. */
function sliceData(job: Job, bytes: Uint8Array, lease: Lease | undefined): Extent[] {
  const out: Extent[] = [];
  let i = 0;
  const n = job.guest.length;
  while (i < n) {
    let length = job.length[i]!;
    let j = i + 1;
    while (j < n && job.guest[j] === job.guest[i]! + length && job.host[j] === job.host[i]! + length) length += job.length[j++]!;
    const at = job.host[i]! - job.start;
    out.push({ kind: 'data', offset: job.guest[i]!, data: bytes.subarray(at, at + length), ...(lease ? { lease } : {}) });
    i = j;
  }
  holdPerExtent(out, lease);
  return out;
}

export async function openQcow2Random(input: RandomAccessInput, opts: { signal?: AbortSignal }): Promise<ImageReader> {
  if (input.size < HEADER_PREFIX_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`qcow2 header needs ${HEADER_PREFIX_BYTES} bytes, the image has ${input.size}`]);
  const prefix = await input.read(0, HEADER_PREFIX_BYTES, opts.signal);
  const clusterSize = peekClusterSize(prefix);
  const cluster0 = await input.read(0, Math.min(input.size, clusterSize), opts.signal);
  return new RandomReader(input, parseHeader(cluster0, input.size), opts.signal);
}
