/**
 * One-pass reader over a block map. While a format still reads its headers and table through
 * the cursor, bytes that go by outside the format's own metadata are kept (a memory window, then
 * the scratch file: qcow2's SpillStore), since a block may turn out to live there. Once the map
 * is known the blocks are read in host order: the ones behind come from the store, the rest as
 * they pass, without copying. Images laid out as qemu-img writes them (table before data) keep
 * nothing.
 */
import { CdiError } from '../../api/errors.ts';
import { BufferPool, type Leased } from '../buffer-pool.ts';
import type { ImageReader } from '../contracts.ts';
import type { Extent } from '../extent.ts';
import { abortError } from '../abort.ts';
import { ByteSource } from '../byte-source.ts';
import { SpillStore } from '../spill.ts';
import type { BlockMap, Reserved } from './blocks.ts';
import type { MappedFormat } from './random.ts';

/** Bytes handed out per data extent when resolving kept ranges. */
const PASSED_PIECE = 4 * 1024 * 1024;
/** Most bytes read at once while keeping (joined into one store entry). */
const KEEP_PIECE = 1024 * 1024;
const WINDOW = 256 * 1024;
/** Stream chunks smaller than this are joined (up to GATHER bytes) before becoming an extent. */
const SMALL_PIECE = 64 * 1024;
const GATHER = 1024 * 1024;

export interface CursorOptions {
  /**
   * Where bytes that pass before the table are kept. Without one the cursor keeps nothing: for
   * a caller that has read the table already (random access) and reads only the blocks.
   */
  scratchDir?: string | undefined;
  signal?: AbortSignal | undefined;
  spillLimit?: number | undefined;
}

export class StreamCursor {
  /** While true, passing bytes outside reserved ranges are kept. */
  keeping: boolean;
  private readonly src: ByteSource;
  private readonly store: SpillStore | undefined;
  private readonly invalid: (reason: string) => CdiError;
  private reserved: Reserved[] = [];
  private readonly gathered = new BufferPool(GATHER, 8);

  constructor(stream: AsyncIterable<Uint8Array>, opts: CursorOptions, invalid: (reason: string) => CdiError) {
    this.src = new ByteSource(stream, opts.signal);
    this.store = opts.scratchDir === undefined ? undefined : new SpillStore(opts.scratchDir, opts.spillLimit ?? Number.POSITIVE_INFINITY, WINDOW);
    this.keeping = this.store !== undefined;
    this.invalid = invalid;
  }

  get pos(): number {
    return this.src.pos;
  }

  spilled(): number {
    return this.store?.spilled() ?? 0;
  }

  /** Host ranges that hold the format's metadata: never kept, and no block may lie there. */
  reserve(ranges: readonly Reserved[]): void {
    this.reserved = [...ranges].sort((a, b) => a.start - b.start);
  }

  /** Exactly [host, host+length) as a buffer of its own; CDI_ERR_TRUNCATED when the stream ends first. */
  async range(host: number, length: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    if (host < this.src.pos) {
      done = Math.min(length, this.src.pos - host);
      await this.passed(host, out.subarray(0, done), what);
    }
    if (done < length) {
      await this.passTo(host + done);
      const rest = await this.src.read(length - done);
      if (rest.byteLength < length - done) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the ${what} at host offset ${host}`]);
      out.set(rest, done);
    }
    return out;
  }

  /** Data of one block range, the part behind from the store, the rest from the stream. */
  async *data(host: number, guest: number, length: number): AsyncGenerator<Extent> {
    let done = 0;
    while (done < length && host + done < this.src.pos) {
      const n = Math.min(PASSED_PIECE, length - done, this.src.pos - host - done);
      const out = new Uint8Array(n);
      await this.passed(host + done, out, 'data block');
      yield { kind: 'data', offset: guest + done, data: out };
      done += n;
    }
    if (done === length) return;
    await this.passTo(host + done);
    while (done < length) {
      const want = length - done;
      const piece = await this.src.takeLeased(want);
      if (!piece) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the data block at host offset ${host + done}`]);
      let { bytes, lease } = piece;
      if (bytes.byteLength < want && bytes.byteLength < SMALL_PIECE) {
        const joined = await this.gather(bytes, Math.min(want, GATHER));
        lease?.release();
        ({ bytes, lease } = joined);
      }
      yield { kind: 'data', offset: guest + done, data: bytes, ...(lease ? { lease } : {}) };
      done += bytes.byteLength;
    }
  }

  /** Reads what is left so upstream stages (checksums) see every byte, then releases everything. */
  async finish(): Promise<void> {
    await this.src.drain();
  }

  async close(): Promise<void> {
    await this.src.close();
    await this.store?.close();
  }

  private async passTo(host: number): Promise<void> {
    while (this.src.pos < host) {
      const at = this.src.pos;
      let want = host - at;
      if (!this.keeping || !this.store) {
        if (!(await this.src.take(want))) return;
        continue;
      }
      const inside = this.reserved.find((r) => at >= r.start && at < r.end);
      if (inside) want = Math.min(want, inside.end - at);
      else {
        const next = this.reserved.find((r) => r.start > at);
        want = Math.min(want, KEEP_PIECE, next ? next.start - at : want);
      }
      const bytes = await this.src.read(want);
      if (bytes.byteLength === 0) return;
      if (!inside) await this.store.keep(at, bytes);
    }
  }

  private async passed(host: number, out: Uint8Array, what: string): Promise<void> {
    for (let done = 0; done < out.byteLength;) {
      const n = this.store ? await this.store.copy(host + done, out, done, out.byteLength - done) : 0;
      if (n === 0) throw this.invalid(`the ${what} at host offset ${host + done} lies behind data already read (it overlaps other metadata or data)`);
      done += n;
    }
  }

  private async gather(first: Uint8Array, n: number): Promise<Leased> {
    const out = this.gathered.take(n);
    out.bytes.set(first);
    let got = first.byteLength;
    while (got < n) {
      const b = await this.src.take(n - got);
      if (!b) break;
      out.bytes.set(b, got);
      got += b.byteLength;
    }
    return { bytes: out.bytes.subarray(0, got), lease: out.lease };
  }
}

/** The reader over a cursor whose format has read its table: blocks in host order. */
export function mappedStreamReader(format: MappedFormat, virtualSize: number, cursor: StreamCursor, map: BlockMap, signal: AbortSignal | undefined): ImageReader {
  return {
    format,
    virtualSize,
    spillBytes: () => cursor.spilled(),
    extents: () => extents(cursor, map, signal),
  };
}

async function* extents(cursor: StreamCursor, map: BlockMap, signal: AbortSignal | undefined): AsyncGenerator<Extent> {
  try {
    for (const z of map.zeros) yield { kind: 'zero', offset: z.offset, length: z.length };
    cursor.keeping = false;
    const blocks = [...map.blocks].sort((a, b) => a.host - b.host);
    for (const block of blocks) {
      signal?.throwIfAborted();
      const data = block.host + block.prefix;
      if (block.prefix === 0) {
        yield* cursor.data(data, block.guest, block.length);
        continue;
      }
      const prefix = await cursor.range(block.host, block.prefix, 'sector bitmap');
      for (const [start, end] of map.present!(prefix, block.length)) yield* cursor.data(data + start, block.guest + start, end - start);
    }
    await cursor.finish();
  } catch (err) {
    if (signal?.aborted) throw abortError(signal);
    throw err;
  } finally {
    await cursor.close();
  }
}
