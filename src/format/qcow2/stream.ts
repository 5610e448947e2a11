/**
 * One-pass qcow2 reader for pipes. Walks the image once in host order: tables are decoded when
 * they pass, data clusters are emitted as they pass when their mapping is known, and bytes that
 * go by while some L2 table (or the L1) is still ahead are kept in a scratch store and resolved
 * once the table arrives. Images laid out like `qemu-img convert` output never spill.
 * The algorithm, its spill rules and limits: docs/qcow2-one-pass.md.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader } from '../contracts.ts';
import { BufferPool, type Lease } from '../buffer-pool.ts';
import { holdPerExtent, type Extent } from '../extent.ts';
import { abortError } from '../abort.ts';
import { ByteSource } from '../byte-source.ts';
import { HEADER_PREFIX_BYTES, parseHeader, peekClusterSize, type Qcow2Header } from './header.ts';
import { HostQueue, QueueHeap } from './host-queue.ts';
import { BATCH_INPUT, clustersPerBatch, runInflateBatch } from './inflate-pool.ts';
import { SpillStore } from '../spill.ts';
import { decodeL1, decodeL2, RUN_COMPRESSED, RUN_DATA, RUN_ZERO, RunList } from './tables.ts';

const ITEM_L1 = 4;
const ITEM_L2 = 5;
const ITEM_REFTABLE = 6;
const ITEM_REFBLOCK = 7;

/** Bytes handed out per data extent when resolving kept ranges. */
const PASSED_PIECE = 4 * 1024 * 1024;
const BATCHES_IN_FLIGHT = 3;
/** Smallest memory window of recent unmapped bytes kept before they go to the scratch file. */
const LOOKBACK_MIN = 256 * 1024;
/** Stream chunks smaller than this are joined (up to GATHER bytes) before being kept. */
const SMALL_PIECE = 64 * 1024;
const GATHER = 1024 * 1024;

interface Batch {
  input: Uint8Array;
  inputLease: Lease | undefined;
  used: number;
  starts: number[];
  lengths: number[];
  guest: number[];
  guestLength: number[];
}

export interface StreamOptions {
  scratchDir: string;
  signal?: AbortSignal;
  spillLimit?: number;
}

class StreamReader implements ImageReader {
  readonly format = 'qcow2';
  readonly virtualSize: number;
  private readonly h: Qcow2Header;
  private readonly src: ByteSource;
  private readonly cluster0: Uint8Array;
  private readonly store: SpillStore;
  private readonly signal: AbortSignal | undefined;
  private readonly heap = new QueueHeap();
  private readonly runs = new RunList();
  /** L1 and L2 tables not read yet: while any remain, unknown bytes must be kept. */
  private tablesAhead = 1;
  /** The last compressed range read; neighbours share its final sector. */
  private recentStart = 0;
  private recent: Uint8Array = new Uint8Array(0);
  private recentBuffer = new Uint8Array(0);
  private zeros: Extent[] = [];
  private batch: Batch | undefined;
  private readonly inflight: Promise<Extent[]>[] = [];
  private readonly batchInputs = new BufferPool(BATCH_INPUT, BATCHES_IN_FLIGHT + 1);
  private readonly gathered = new BufferPool(GATHER, 8);
  private readonly batchClusters: number;

  constructor(h: Qcow2Header, src: ByteSource, cluster0: Uint8Array, opts: StreamOptions) {
    this.h = h;
    this.virtualSize = h.virtualSize;
    this.src = src;
    this.cluster0 = cluster0;
    this.signal = opts.signal;
    this.batchClusters = clustersPerBatch(h.clusterSize);
    this.store = new SpillStore(opts.scratchDir, opts.spillLimit ?? Number.POSITIVE_INFINITY, Math.max(2 * h.clusterSize, LOOKBACK_MIN));
    if (h.l1Entries > 0) this.heap.push(HostQueue.of(ITEM_L1, [h.l1Offset], [0], h.l1Entries * 8));
    else this.tablesAhead = 0;
    if (h.refcountTableBytes > 0 && h.refcountTableOffset >= h.clusterSize) {
      this.heap.push(HostQueue.of(ITEM_REFTABLE, [h.refcountTableOffset], [0], h.refcountTableBytes));
    }
  }

  spillBytes(): number {
    return this.store.spilled();
  }

  async *extents(): AsyncIterable<Extent> {
    try {
      for (;;) {
        const q = this.heap.peek();
        if (!q) break;
        const i = q.i;
        const kind = q.kind[i]!;
        const host = q.host[i]!;
        const hostLength = q.hostLength[i]!;
        const guest = q.guest[i]!;
        const length = q.length[i]!;
        this.heap.advance();
        if (kind === RUN_DATA) yield* this.data(host, guest, length);
        else if (kind === RUN_COMPRESSED) await this.compressed(host, hostLength, guest, length);
        else if (kind === ITEM_L2) await this.l2(host, guest);
        else if (kind === ITEM_L1) await this.l1(host, hostLength);
        else if (kind === ITEM_REFTABLE) await this.refcountTable(host, hostLength);
        else await this.skip(host, hostLength);
        if (this.zeros.length > 0) {
          yield* this.zeros;
          this.zeros = [];
        }
        while (this.inflight.length >= BATCHES_IN_FLIGHT) yield* await this.inflight.shift()!;
      }
      this.flushBatch();
      while (this.inflight.length > 0) yield* await this.inflight.shift()!;
      await this.src.drain();
    } catch (err) {
      if (this.signal?.aborted) throw abortError(this.signal);
      throw err;
    } finally {
      await this.src.close();
      await this.store.close();
    }
  }

  /** Moves the stream to `host`, keeping what passes if a table that could map it is still ahead. */
  private async passTo(host: number): Promise<void> {
    while (this.src.pos < host) {
      const at = this.src.pos;
      const want = host - at;
      const bytes = await this.src.take(want);
      if (!bytes) return;
      if (this.tablesAhead === 0) continue;
      if (bytes.byteLength < want && bytes.byteLength < SMALL_PIECE) {
        // the store copies what it keeps
        const joined = await this.src.join(bytes, Math.min(want, GATHER), this.gathered);
        await this.store.keep(at, joined.bytes);
        joined.lease?.release();
      } else {
        await this.store.keep(at, bytes);
      }
    }
  }

  /** Bytes before the stream position: from cluster 0, the last compressed range, or the store. */
  private async passed(host: number, length: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const p = host + done;
      const want = length - done;
      let n: number;
      if (p < this.cluster0.byteLength) {
        n = Math.min(want, this.cluster0.byteLength - p);
        out.set(this.cluster0.subarray(p, p + n), done);
      } else if (p >= this.recentStart && p < this.recentStart + this.recent.byteLength) {
        n = Math.min(want, this.recentStart + this.recent.byteLength - p);
        out.set(this.recent.subarray(p - this.recentStart, p - this.recentStart + n), done);
      } else {
        n = await this.store.copy(p, out, done, want);
      }
      if (n === 0) throw new CdiError('CDI_ERR_QCOW2_INVALID', [`${what} at host offset ${p} overlaps other metadata or data`]);
      done += n;
    }
    return out;
  }

  /** The bytes [host, host+length): kept ones first, then from the stream. Short only at the end of the stream. */
  private async range(host: number, length: number, what: string): Promise<Uint8Array> {
    const pos = this.src.pos;
    if (host >= pos) {
      await this.passTo(host);
      return this.src.read(length);
    }
    const head = Math.min(length, pos - host);
    const before = await this.passed(host, head, what);
    if (head === length) return before;
    const after = await this.src.read(length - head);
    const out = new Uint8Array(head + after.byteLength);
    out.set(before);
    out.set(after, head);
    return out;
  }

  private async whole(host: number, length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.range(host, length, what);
    if (bytes.byteLength < length) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the ${what} at host offset ${host}`]);
    return bytes;
  }

  private async *data(host: number, guest: number, length: number): AsyncGenerator<Extent> {
    let done = 0;
    while (done < length && host + done < this.src.pos) {
      const n = Math.min(PASSED_PIECE, length - done, this.src.pos - host - done);
      yield { kind: 'data', offset: guest + done, data: await this.passed(host + done, n, 'data cluster') };
      done += n;
    }
    if (done === length) return;
    await this.passTo(host + done);
    while (done < length) {
      const piece = await this.src.takeExtent(length - done, this.gathered, GATHER);
      if (!piece) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the data cluster at host offset ${host + done}`]);
      const { bytes, lease } = piece;
      yield { kind: 'data', offset: guest + done, data: bytes, ...(lease ? { lease } : {}) };
      done += bytes.byteLength;
    }
  }

  private async compressed(host: number, hostLength: number, guest: number, length: number): Promise<void> {
    const bytes = await this.range(host, hostLength, 'compressed cluster');
    if (bytes.byteLength === 0) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended before the compressed cluster at host offset ${host}`]);
    // kept for neighbours sharing its last sector: a copy, as `bytes` may be a view of a pooled chunk
    this.recentStart = host;
    if (this.recentBuffer.byteLength < bytes.byteLength) this.recentBuffer = new Uint8Array(bytes.byteLength);
    this.recentBuffer.set(bytes);
    this.recent = this.recentBuffer.subarray(0, bytes.byteLength);
    let b = this.batch;
    if (b && (b.used + bytes.byteLength > b.input.byteLength || b.starts.length >= this.batchClusters)) {
      this.flushBatch();
      b = undefined;
    }
    if (!b) {
      const { bytes: input, lease: inputLease } = this.batchInputs.take(Math.max(BATCH_INPUT, bytes.byteLength));
      b = this.batch = { input, inputLease, used: 0, starts: [], lengths: [], guest: [], guestLength: [] };
    }
    b.input.set(bytes, b.used);
    b.starts.push(b.used);
    b.lengths.push(bytes.byteLength);
    b.guest.push(guest);
    b.guestLength.push(length);
    b.used += bytes.byteLength;
  }

  private flushBatch(): void {
    const b = this.batch;
    if (!b) return;
    this.batch = undefined;
    const p = runInflateBatch({
      codec: this.h.compression,
      clusterSize: this.h.clusterSize,
      input: b.input.subarray(0, b.used),
      starts: b.starts,
      lengths: b.lengths,
    }).finally(() => b.inputLease?.release()).then((result) => {
      if (!result.ok) throw new CdiError('CDI_ERR_BAD_COMPRESSED_CLUSTER', [b.guest[result.index]!, result.message]);
      const cs = this.h.clusterSize;
      const { lease } = result;
      const out = b.guest.map((g, i): Extent => ({ kind: 'data', offset: g, data: result.output.subarray(i * cs, i * cs + b.guestLength[i]!), ...(lease ? { lease } : {}) }));
      holdPerExtent(out, lease);
      return out;
    });
    p.catch(() => undefined);
    this.inflight.push(p);
  }

  private async l1(host: number, length: number): Promise<void> {
    const table = decodeL1(await this.whole(host, length, 'L1 table'), this.h);
    this.tablesAhead--;
    const hosts: number[] = [];
    const regions: number[] = [];
    const behind: number[] = [];
    for (let i = 0; i < table.length; i++) {
      const at = table[i]!;
      if (at === 0) continue;
      if (at < this.src.pos) behind.push(i);
      else {
        hosts.push(at);
        regions.push(i);
      }
    }
    this.tablesAhead += hosts.length;
    this.heap.push(HostQueue.of(ITEM_L2, hosts, regions, this.h.clusterSize));
    for (const region of behind) this.decodeTable(await this.whole(table[region]!, this.h.clusterSize, 'L2 table'), region);
  }

  private async l2(host: number, region: number): Promise<void> {
    const bytes = await this.whole(host, this.h.clusterSize, 'L2 table');
    this.tablesAhead--;
    this.decodeTable(bytes, region);
  }

  private decodeTable(bytes: Uint8Array, region: number): void {
    this.runs.clear();
    decodeL2(bytes, region, this.h, this.runs);
    for (let r = 0; r < this.runs.count; r++) {
      if (this.runs.kind[r] === RUN_ZERO) this.zeros.push({ kind: 'zero', offset: this.runs.guest[r]!, length: this.runs.length[r]! });
    }
    this.heap.push(HostQueue.fromRuns(this.runs, (k) => k !== RUN_ZERO));
  }

  /** Learns where the refcount blocks are, so they pass as metadata instead of being kept. */
  private async refcountTable(host: number, length: number): Promise<void> {
    if (host < this.src.pos) return;
    const bytes = await this.range(host, length, 'refcount table');
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const hosts: number[] = [];
    const cs = this.h.clusterSize;
    for (let at = 0; at + 8 <= bytes.byteLength; at += 8) {
      const hi = view.getUint32(at);
      const block = hi * 0x100000000 + ((view.getUint32(at + 4) & ~0x1ff) >>> 0);
      if (hi <= 0x1fffff && block !== 0 && block % cs === 0 && block >= this.src.pos) hosts.push(block);
    }
    this.heap.push(HostQueue.of(ITEM_REFBLOCK, hosts, hosts.map(() => 0), cs));
  }

  private async skip(host: number, length: number): Promise<void> {
    if (host < this.src.pos) return;
    await this.passTo(host);
    let left = length;
    while (left > 0) {
      const bytes = await this.src.take(left);
      if (!bytes) return;
      left -= bytes.byteLength;
    }
  }
}

/** Reads the header from the stream; the returned reader continues from there. */
export async function openQcow2Stream(stream: AsyncIterable<Uint8Array>, opts: StreamOptions): Promise<ImageReader> {
  const src = new ByteSource(stream, opts.signal);
  try {
    const prefix = await src.read(HEADER_PREFIX_BYTES);
    if (prefix.byteLength < HEADER_PREFIX_BYTES) {
      throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the qcow2 header after ${prefix.byteLength} bytes`]);
    }
    const clusterSize = peekClusterSize(prefix);
    // `prefix` may be a view of a pooled chunk that the next read hands back to its pool (with
    // 2 MiB clusters the rest of cluster 0 spans more chunks than the pool keeps): copy it first.
    const whole = new Uint8Array(clusterSize);
    whole.set(prefix);
    const rest = await src.read(clusterSize - HEADER_PREFIX_BYTES);
    whole.set(rest, HEADER_PREFIX_BYTES);
    const cluster0 = whole.subarray(0, HEADER_PREFIX_BYTES + rest.byteLength);
    return new StreamReader(parseHeader(cluster0), src, cluster0, opts);
  } catch (err) {
    await src.close();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}
