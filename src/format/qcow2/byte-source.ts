import { claimChunk, type Lease } from '../buffer-pool.ts';

/**
 * Sequential reader over an async iterable of chunks, handing out views without copying when it
 * can. A view is valid until the next call, unless it came from `takeLeased` with a lease. The
 * source claims pooled chunks' leases and gives each back once it has moved past the chunk.
 */
const EMPTY = new Uint8Array(0);

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
