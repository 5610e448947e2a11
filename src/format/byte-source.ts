import { claimChunk, type BufferPool, type Lease, type Leased } from './buffer-pool.ts';

/**
 * Sequential reader over an async iterable of chunks, handing out views without copying when it
 * can. A view is valid until the next call, unless it came from `takeLeased` with a lease. The
 * source claims pooled chunks' leases and gives each back once it has moved past the chunk.
 */
const EMPTY = new Uint8Array(0);
/** Stream chunks smaller than this are joined with the next ones before becoming an extent. */
const SMALL_PIECE = 64 * 1024;

export class ByteSource {
  /** Absolute offset of the next byte. */
  pos = 0;
  private readonly it: AsyncIterator<Uint8Array>;
  private readonly signal: AbortSignal | undefined;
  private chunk: Uint8Array = EMPTY;
  private chunkLease: Lease | undefined;
  private off = 0;
  private ended = false;

  constructor(stream: AsyncIterable<Uint8Array>, signal: AbortSignal | undefined) {
    this.it = stream[Symbol.asyncIterator]();
    this.signal = signal;
  }

  private async more(): Promise<boolean> {
    while (this.off >= this.chunk.byteLength) {
      if (this.ended) return false;
      this.signal?.throwIfAborted();
      this.chunkLease?.release();
      this.chunkLease = undefined;
      this.chunk = EMPTY;
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        this.off = 0;
        return false;
      }
      this.chunk = r.value;
      this.chunkLease = claimChunk(r.value);
      this.off = 0;
    }
    return true;
  }

  /** Up to `max` bytes (at least one) from the current chunk, or undefined at the end. */
  async take(max: number): Promise<Uint8Array | undefined> {
    if (this.off >= this.chunk.byteLength && !(await this.more())) return undefined;
    const n = Math.min(max, this.chunk.byteLength - this.off);
    const bytes = this.chunk.subarray(this.off, this.off + n);
    this.off += n;
    this.pos += n;
    return bytes;
  }

  /** As `take`, with a hold on the chunk's lease (when pooled) that the caller releases. */
  async takeLeased(max: number): Promise<{ bytes: Uint8Array; lease: Lease | undefined } | undefined> {
    const bytes = await this.take(max);
    if (!bytes) return undefined;
    this.chunkLease?.retain();
    return { bytes, lease: this.chunkLease };
  }

  /**
   * Up to `max` bytes (at least one) for an extent, or undefined at the end: a leased view of the
   * current chunk, or, when fewer than 64 KiB of it are left, those joined with the next chunks'
   * into a buffer of `pool` (up to its buffer size), so extents stay big whatever the chunking.
   */
  async takeExtent(max: number, pool: BufferPool, poolBytes: number): Promise<Leased | undefined> {
    const piece = await this.takeLeased(max);
    if (!piece || piece.bytes.byteLength >= max || piece.bytes.byteLength >= SMALL_PIECE) return piece;
    // a copy into a pooled buffer: the small piece's chunk is not held any longer
    const joined = await this.join(piece.bytes, Math.min(max, poolBytes), pool);
    piece.lease?.release();
    return joined;
  }

  /** `first` followed by stream bytes up to `n` in all, copied into a buffer of `pool`; short only at the end. */
  async join(first: Uint8Array, n: number, pool: BufferPool): Promise<Leased> {
    const out = pool.take(n);
    out.bytes.set(first);
    let got = first.byteLength;
    while (got < n) {
      const b = await this.take(n - got);
      if (!b) break;
      out.bytes.set(b, got);
      got += b.byteLength;
    }
    return { bytes: out.bytes.subarray(0, got), lease: out.lease };
  }

  /** Exactly `n` bytes, fewer only when the stream ends first. */
  async read(n: number): Promise<Uint8Array> {
    const first = await this.take(n);
    if (!first) return EMPTY;
    if (first.byteLength === n) return first;
    const out = new Uint8Array(n);
    out.set(first);
    let got = first.byteLength;
    while (got < n) {
      const b = await this.take(n - got);
      if (!b) return out.subarray(0, got);
      out.set(b, got);
      got += b.byteLength;
    }
    return out;
  }

  /** Reads and drops everything left, so upstream stages (checksums) see the whole input. */
  async drain(): Promise<void> {
    while (await this.take(Number.MAX_SAFE_INTEGER));
  }

  /** Stops the upstream iterator early (on error or early exit). */
  async close(): Promise<void> {
    this.chunkLease?.release();
    this.chunkLease = undefined;
    if (!this.ended) {
      this.ended = true;
      await this.it.return?.();
    }
  }
}
