/**
 * One-pass monolithicSparse reader: walks the file in host order like the one-pass qcow2 reader:
 * the grain directory, then each grain table, then the grains they map. Grains that pass while a
 * table is still ahead go to the scratch store; qemu-img and VMware put every table before the
 * grains, so their images never spill.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader } from '../contracts.ts';
import type { Extent } from '../extent.ts';
import { abortError } from '../abort.ts';
import type { ByteSource } from '../byte-source.ts';
import { HostQueue, QueueHeap } from '../qcow2/host-queue.ts';
import { SpillStore } from '../spill.ts';
import { invalid, SECTOR, sectorsOf, type SparseHeader } from './header.ts';
import { exactly, skipTo } from './stream-io.ts';
import { decodeGD, decodeGT, gtBytes, RUN_DATA, RUN_ZERO, RunList } from './tables.ts';
import type { UnitSet } from './unit-set.ts';

export interface SparseStreamOptions {
  scratchDir: string;
  signal?: AbortSignal;
  spillLimit?: number;
}

const ITEM_GD = 4;
const ITEM_GT = 5;
/** Smallest memory window of recent unmapped bytes kept before they go to the scratch file. */
const LOOKBACK_MIN = 256 * 1024;
/** Stream chunks smaller than this are joined (up to GATHER bytes) before becoming an extent. */
const SMALL_PIECE = 64 * 1024;
const GATHER = 1024 * 1024;

/** Tables first, then grains in host order. */
export class SparseReader implements ImageReader {
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

  constructor(h: SparseHeader, src: ByteSource, used: UnitSet, opts: SparseStreamOptions) {
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
