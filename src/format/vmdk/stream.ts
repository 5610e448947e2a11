/**
 * One-pass VMDK readers for pipes and uploads.
 *
 * - streamOptimized: every grain carries its guest sector in its marker, so grains are inflated
 *   as they pass and nothing is spilled, whatever the layout; the grain tables, before the grains
 *   (qemu-img) or after them (ESXi), are only checked against the markers.
 * - monolithicSparse: walks the file in host order like the one-pass qcow2 reader: the grain
 *   directory, then each grain table, then the grains they map. Grains that pass while a table
 *   is still ahead go to the scratch store; qemu-img and VMware put every table before the grains.
 * - A descriptor whose flat extent follows it in the same stream is read as raw bytes.
 */
import { CdiError } from '../../api/errors.ts';
import { BufferPool, type Lease } from '../buffer-pool.ts';
import type { ImageReader } from '../contracts.ts';
import { holdPerExtent, type Extent } from '../extent.ts';
import { rawStreamReader } from '../raw.ts';
import { abortError } from '../qcow2/abort.ts';
import { ByteSource } from '../qcow2/byte-source.ts';
import { HostQueue, QueueHeap } from '../qcow2/host-queue.ts';
import { BATCH_INPUT, clustersPerBatch, runInflateBatch } from '../qcow2/inflate-pool.ts';
import { SpillStore } from '../qcow2/spill.ts';
import { checkDescriptor, DESCRIPTOR_MAGIC, descriptorText, flatLayout, MAX_DESCRIPTOR_BYTES, parseDescriptor } from './descriptor.ts';
import {
  checkFooter, grainGuest, invalid, MARKER_EOS, MARKER_FOOTER, MARKER_GD, MARKER_GT, parseMarker, parseSparseHeader, SECTOR,
  type Marker, type SparseHeader,
} from './header.ts';
import { MarkerCheck } from './marker-check.ts';
import { decodeGD, decodeGT, gtBytes, RUN_DATA, RUN_ZERO, RunList } from './tables.ts';
import { UnitSet } from './unit-set.ts';

export interface VmdkStreamOptions {
  scratchDir: string;
  signal?: AbortSignal;
  spillLimit?: number;
}

const ITEM_GD = 4;
const ITEM_GT = 5;
const BATCHES_IN_FLIGHT = 3;
/** Smallest memory window of recent unmapped bytes kept before they go to the scratch file. */
const LOOKBACK_MIN = 256 * 1024;
/** Stream chunks smaller than this are joined (up to GATHER bytes) before becoming an extent. */
const SMALL_PIECE = 64 * 1024;
const GATHER = 1024 * 1024;

const sectorsOf = (bytes: number): number => Math.ceil(bytes / SECTOR);

/** Drops bytes up to `host`; false when the stream ended first. */
async function skipTo(src: ByteSource, host: number): Promise<boolean> {
  while (src.pos < host) {
    if (!(await src.take(host - src.pos))) return false;
  }
  return true;
}

async function exactly(src: ByteSource, n: number, what: string): Promise<Uint8Array> {
  const bytes = await src.read(n);
  if (bytes.byteLength < n) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk ${what} at offset ${src.pos}`]);
  return bytes;
}

/** Reads grain-space data and grain markers; the streamOptimized reader. */
class MarkerReader implements ImageReader {
  readonly format = 'vmdk';
  readonly virtualSize: number;
  private readonly h: SparseHeader;
  private readonly src: ByteSource;
  private readonly signal: AbortSignal | undefined;
  private readonly grainsSeen = new UnitSet();
  private readonly check: MarkerCheck;
  private readonly inputs = new BufferPool(BATCH_INPUT, BATCHES_IN_FLIGHT + 1);
  private readonly inflight: Promise<Extent[]>[] = [];
  private readonly batchGrains: number;
  private batch: { input: Uint8Array; lease: Lease | undefined; used: number; starts: number[]; lengths: number[]; guest: number[] } | undefined;

  constructor(h: SparseHeader, src: ByteSource, signal: AbortSignal | undefined) {
    this.h = h;
    this.virtualSize = h.virtualSize;
    this.src = src;
    this.signal = signal;
    this.batchGrains = clustersPerBatch(h.grainSize);
    this.check = new MarkerCheck(h);
  }

  spillBytes(): number {
    return 0;
  }

  async *extents(): AsyncIterable<Extent> {
    try {
      await this.loadTables();
      if (!(await skipTo(this.src, this.h.overhead))) throw new CdiError('CDI_ERR_TRUNCATED', ['the stream ended before the vmdk grains']);
      for (;;) {
        const at = this.src.pos;
        const marker = parseMarker(await exactly(this.src, 12, 'marker'));
        if (marker.size > 0) await this.grain(marker, at);
        else {
          const type = Buffer.from(await exactly(this.src, 4, 'marker')).readUInt32LE(0);
          if (type === MARKER_EOS) break;
          await this.metadata(type, marker.value, at);
        }
        while (this.inflight.length >= BATCHES_IN_FLIGHT) yield* await this.inflight.shift()!;
      }
      this.check.finish((grain) => this.grainsSeen.has(grain));
      this.flush();
      while (this.inflight.length > 0) yield* await this.inflight.shift()!;
      await this.src.drain();
    } catch (err) {
      if (this.signal?.aborted) throw abortError(this.signal);
      throw err;
    } finally {
      await this.src.close();
    }
  }

  /** Reads the grain directory and tables when they pass before the grains (qemu-img's layout), to check the markers against. */
  private async loadTables(): Promise<void> {
    if (!this.check.wantsTables(this.src.pos)) return;
    if (!(await skipTo(this.src, this.h.gdOffset))) return;
    const tables = this.check.directory(await exactly(this.src, this.h.gdEntries * 4, 'grain directory'));
    const length = gtBytes(this.h);
    for (const { index, host } of tables) {
      if (host < this.src.pos || host + length > this.h.overhead) continue;
      await skipTo(this.src, host);
      this.check.table(index, await exactly(this.src, length, 'grain table'));
    }
  }

  private async grain(marker: Marker, at: number): Promise<void> {
    const { size } = marker;
    const guest = grainGuest(this.h, marker);
    if (!this.grainsSeen.claim(guest / this.h.grainSize, 1)) throw invalid(`two grains hold guest offset ${guest}`);
    this.check.grain(guest / this.h.grainSize, at);
    let b = this.batch;
    if (b && (b.used + size > b.input.byteLength || b.starts.length >= this.batchGrains)) {
      this.flush();
      b = undefined;
    }
    if (!b) {
      const { bytes, lease } = this.inputs.take(Math.max(BATCH_INPUT, size));
      b = this.batch = { input: bytes, lease, used: 0, starts: [], lengths: [], guest: [] };
    }
    for (let got = 0; got < size;) {
      const piece = await this.src.take(size - got);
      if (!piece) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk grain at offset ${at}`]);
      b.input.set(piece, b.used + got);
      got += piece.byteLength;
    }
    b.starts.push(b.used);
    b.lengths.push(size);
    b.guest.push(guest);
    b.used += size;
    if (!(await skipTo(this.src, at + sectorsOf(12 + size) * SECTOR))) {
      throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk grain at offset ${at}`]);
    }
  }

  private flush(): void {
    const b = this.batch;
    if (!b) return;
    this.batch = undefined;
    const grain = this.h.grainSize;
    const outLengths = b.guest.map((g) => Math.min(grain, this.virtualSize - g));
    const p = runInflateBatch({ codec: 'deflate', clusterSize: grain, input: b.input.subarray(0, b.used), starts: b.starts, lengths: b.lengths, outLengths })
      .finally(() => b.lease?.release())
      .then((result) => {
        if (!result.ok) throw new CdiError('CDI_ERR_VMDK_BAD_GRAIN', [b.guest[result.index]!, result.message]);
        const { lease } = result;
        const out = b.guest.map((g, i): Extent => ({
          kind: 'data', offset: g, data: result.output.subarray(i * grain, i * grain + outLengths[i]!), ...(lease ? { lease } : {}),
        }));
        holdPerExtent(out, lease);
        return out;
      });
    p.catch(() => undefined);
    this.inflight.push(p);
  }

  /** Grain tables check the markers (marker-check.ts); a footer must agree with the header. */
  private async metadata(type: number, sectors: number, at: number): Promise<void> {
    if (type !== MARKER_GT && type !== MARKER_GD && type !== MARKER_FOOTER) throw invalid(`unknown marker type ${type} at offset ${at}`);
    const end = at + SECTOR + sectors * SECTOR;
    if (!Number.isSafeInteger(end)) throw invalid(`metadata marker at offset ${at} claims ${sectors} sectors`);
    if (!(await skipTo(this.src, at + SECTOR))) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk marker at offset ${at}`]);
    if (type === MARKER_FOOTER) {
      if (sectors !== 1) throw invalid(`footer marker at offset ${at} claims ${sectors} sectors`);
      checkFooter(this.h, parseSparseHeader(await exactly(this.src, SECTOR, 'footer')));
      return;
    }
    if (type === MARKER_GT && sectors === sectorsOf(gtBytes(this.h))) {
      this.check.gtMarker(await exactly(this.src, sectors * SECTOR, 'grain table'));
      return;
    }
    if (!(await skipTo(this.src, end))) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk metadata at offset ${at}`]);
  }
}

/** The monolithicSparse reader: tables first, then grains in host order. */
class SparseReader implements ImageReader {
  readonly format = 'vmdk';
  readonly virtualSize: number;
  private readonly h: SparseHeader;
  private readonly src: ByteSource;
  private readonly signal: AbortSignal | undefined;
  private readonly store: SpillStore;
  private readonly heap = new QueueHeap();
  private readonly runs = new RunList();
  private readonly used: UnitSet;
  /** The grain directory and grain tables not read yet: while any remain, grain-space bytes are kept. */
  private tablesAhead = 1;
  private zeros: Extent[] = [];

  constructor(h: SparseHeader, src: ByteSource, used: UnitSet, opts: VmdkStreamOptions) {
    this.h = h;
    this.virtualSize = h.virtualSize;
    this.src = src;
    this.used = used;
    this.signal = opts.signal;
    this.store = new SpillStore(opts.scratchDir, opts.spillLimit ?? Number.POSITIVE_INFINITY, Math.max(2 * h.grainSize, LOOKBACK_MIN));
    if (h.gdEntries > 0) this.heap.push(HostQueue.of(ITEM_GD, [h.gdOffset], [0], h.gdEntries * 4));
    else this.tablesAhead = 0;
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
        const length = q.length[i]!;
        const tag = q.guest[i]!;
        this.heap.advance();
        this.claim(host, length, kind === RUN_DATA ? 'grain' : kind === ITEM_GT ? 'grain table' : 'grain directory');
        if (kind === RUN_DATA) yield* this.data(host, tag, length);
        else if (kind === ITEM_GT) this.table(await this.whole(host, length, 'grain table'), tag);
        else await this.directory(await this.whole(host, length, 'grain directory'));
        if (this.zeros.length > 0) {
          yield* this.zeros;
          this.zeros = [];
        }
      }
      if (!(await skipTo(this.src, this.h.overhead))) throw new CdiError('CDI_ERR_TRUNCATED', ['the stream ended before the vmdk grain space']);
      await this.src.drain();
    } catch (err) {
      if (this.signal?.aborted) throw abortError(this.signal);
      throw err;
    } finally {
      await this.src.close();
      await this.store.close();
    }
  }

  private claim(host: number, length: number, what: string): void {
    if (!this.used.claim(host / SECTOR, sectorsOf(length))) throw invalid(`the ${what} at offset ${host} overlaps other tables or grains`);
  }

  /** Moves the stream to `host`, keeping grain-space bytes while a table that could map them is still ahead. */
  private async passTo(host: number): Promise<void> {
    while (this.src.pos < host) {
      const at = this.src.pos;
      const want = host - at;
      const bytes = await this.src.take(want);
      if (!bytes) return;
      if (this.tablesAhead === 0 || at < this.h.overhead) continue;
      // small pieces of a pipe are joined first, so the store keeps few big ranges
      await this.store.keep(at, bytes.byteLength < want && bytes.byteLength < SMALL_PIECE ? await this.join(bytes, Math.min(want, GATHER)) : bytes);
    }
  }

  /** `first` and what follows it in the stream, up to `n` bytes in all (fewer at the end), as one copy. */
  private async join(first: Uint8Array, n: number): Promise<Uint8Array> {
    // `first` is copied before the stream moves on: its chunk may be a pooled buffer that is then reused
    const joined = new Uint8Array(n);
    joined.set(first);
    let got = first.byteLength;
    while (got < n) {
      const piece = await this.src.take(n - got);
      if (!piece) break;
      joined.set(piece, got);
      got += piece.byteLength;
    }
    return joined.subarray(0, got);
  }

  private async passed(host: number, length: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let done = 0; done < length;) {
      const n = await this.store.copy(host + done, out, done, length - done);
      if (n === 0) throw invalid(`the ${what} at offset ${host + done} lies before the table that maps it, among other metadata`);
      done += n;
    }
    return out;
  }

  private async whole(host: number, length: number, what: string): Promise<Uint8Array> {
    if (host < this.src.pos) {
      const head = Math.min(length, this.src.pos - host);
      const before = await this.passed(host, head, what);
      if (head === length) return before;
      const out = new Uint8Array(length);
      out.set(before);
      out.set(await exactly(this.src, length - head, what), head);
      return out;
    }
    await this.passTo(host);
    return exactly(this.src, length, what);
  }

  private async directory(bytes: Uint8Array): Promise<void> {
    const gd = decodeGD(bytes, this.h);
    this.tablesAhead--;
    const hosts: number[] = [];
    const tags: number[] = [];
    for (let i = 0; i < gd.length; i++) {
      if (gd[i] === 0) continue;
      hosts.push(gd[i]!);
      tags.push(i);
    }
    this.tablesAhead += hosts.length;
    this.heap.push(HostQueue.of(ITEM_GT, hosts, tags, gtBytes(this.h)));
  }

  private table(bytes: Uint8Array, index: number): void {
    this.tablesAhead--;
    this.runs.clear();
    decodeGT(bytes, index, this.h, this.runs);
    for (let r = 0; r < this.runs.count; r++) {
      if (this.runs.kind[r] === RUN_ZERO) this.zeros.push({ kind: 'zero', offset: this.runs.guest[r]!, length: this.runs.length[r]! });
    }
    this.heap.push(HostQueue.fromRuns(this.runs, (k) => k === RUN_DATA));
  }

  private async *data(host: number, guest: number, length: number): AsyncGenerator<Extent> {
    let done = 0;
    while (done < length && host + done < this.src.pos) {
      const n = Math.min(GATHER, length - done, this.src.pos - host - done);
      yield { kind: 'data', offset: guest + done, data: await this.passed(host + done, n, 'grain') };
      done += n;
    }
    if (done === length) return;
    await this.passTo(host + done);
    while (done < length) {
      const want = length - done;
      const piece = await this.src.takeLeased(want);
      if (!piece) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk grain at offset ${host + done}`]);
      const { bytes, lease } = piece;
      if (bytes.byteLength < want && bytes.byteLength < SMALL_PIECE) {
        // a small piece of a pipe: joined with what follows into one copy, so extents stay big
        const joined = await this.join(bytes, Math.min(want, GATHER));
        lease?.release();
        if (joined.byteLength < Math.min(want, GATHER)) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk grain at offset ${host + done}`]);
        yield { kind: 'data', offset: guest + done, data: joined };
        done += joined.byteLength;
        continue;
      }
      yield { kind: 'data', offset: guest + done, data: bytes, ...(lease ? { lease } : {}) };
      done += bytes.byteLength;
    }
  }
}

/** A text descriptor whose flat extent follows it in the stream: the extent's bytes are the disk. */
async function openFlat(src: ByteSource, first: Uint8Array): Promise<ImageReader> {
  let head = first;
  while (head.indexOf(0) === -1 && head.byteLength < MAX_DESCRIPTOR_BYTES) {
    const more = await src.read(SECTOR);
    if (more.byteLength === 0) break;
    const joined = new Uint8Array(head.byteLength + more.byteLength);
    joined.set(head);
    joined.set(more, head.byteLength);
    head = joined;
  }
  const text = descriptorText(head);
  const layout = flatLayout(parseDescriptor(text), sectorsOf(text.length) * SECTOR);
  if (layout.offset < src.pos) throw invalid('the flat extent starts inside the descriptor');
  if (!(await skipTo(src, layout.offset))) throw new CdiError('CDI_ERR_TRUNCATED', ['the stream ended before the flat extent']);
  const end = layout.offset + layout.virtualSize;
  async function* extentBytes(): AsyncGenerator<Uint8Array> {
    try {
      while (src.pos < end) {
        const piece = await src.take(end - src.pos);
        if (!piece) return;
        yield piece;
      }
      await src.drain();
    } finally {
      await src.close();
    }
  }
  const raw = rawStreamReader(extentBytes(), { format: 'raw', size: layout.virtualSize });
  return { format: 'vmdk', virtualSize: layout.virtualSize, extents: () => raw.extents(), spillBytes: () => 0 };
}

/** Reads the header and descriptor; the returned reader continues from there. */
export async function openVmdkStream(stream: AsyncIterable<Uint8Array>, opts: VmdkStreamOptions): Promise<ImageReader> {
  const src = new ByteSource(stream, opts.signal);
  try {
    const first = await src.read(SECTOR);
    if (Buffer.from(first.subarray(0, DESCRIPTOR_MAGIC.length)).toString('latin1') === DESCRIPTOR_MAGIC) return await openFlat(src, first);
    if (first.byteLength < SECTOR) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk header after ${first.byteLength} bytes`]);
    const h = parseSparseHeader(first);
    const used = new UnitSet();
    used.claim(0, 1);
    if (h.descriptorSize > 0) {
      if (!(await skipTo(src, h.descriptorOffset))) throw new CdiError('CDI_ERR_TRUNCATED', ['the stream ended before the vmdk descriptor']);
      const bytes = await exactly(src, Math.min(h.descriptorSize, MAX_DESCRIPTOR_BYTES), 'descriptor');
      checkDescriptor(bytes, h);
      used.claim(h.descriptorOffset / SECTOR, sectorsOf(h.descriptorSize));
    }
    return h.compressed ? new MarkerReader(h, src, opts.signal) : new SparseReader(h, src, used, opts);
  } catch (err) {
    await src.close();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}
