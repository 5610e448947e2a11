/**
 * Reuses read buffers so a conversion does not leave a trail of freed ones: V8 lets ~64 MiB of
 * dead external buffers pile up before it collects them, which alone is a third of our peak RSS.
 * A buffer goes back to the pool only when its lease count drops to zero, that is when every
 * holder (the reader's extents, the sink's queued writes) has released it. A lease nobody
 * releases costs nothing but the reuse: the buffer is then collected like any other.
 */
export interface Lease {
  retain(): void;
  release(): void;
}

export interface Leased {
  readonly bytes: Uint8Array;
  /** Undefined when the request was too big for the pool: a plain buffer, nothing to release. */
  readonly lease: Lease | undefined;
}

/** Memory the pool hands out: by default a Buffer with an ArrayBuffer of its own. */
export type Allocate = (length: number) => Uint8Array;

const ownBuffer: Allocate = (length) => Buffer.allocUnsafeSlow(length);

/** Shared memory: a worker thread can fill it without the buffer being moved or copied. */
export const sharedMemory: Allocate = (length) => new Uint8Array(new SharedArrayBuffer(length));

export class BufferPool {
  readonly #size: number;
  readonly #keep: number;
  readonly #allocate: Allocate;
  readonly #free: Uint8Array[] = [];

  /** Buffers of `size` bytes; at most `keep` idle ones are kept. */
  constructor(size: number, keep: number, allocate: Allocate = ownBuffer) {
    this.#size = size;
    this.#keep = keep;
    this.#allocate = allocate;
  }

  /**
   * A buffer of `length` bytes held by `holders` leases (each holder calls `release` once).
   * Requests larger than the pool's buffers get a buffer of their own, not pooled.
   */
  take(length: number, holders = 1): Leased {
    if (length > this.#size) return { bytes: this.#allocate(length), lease: undefined };
    const buffer = this.#free.pop() ?? this.#allocate(this.#size);
    let count = holders;
    const lease: Lease = {
      retain: () => {
        if (count <= 0) throw new Error('lease retained after its buffer went back to the pool');
        count++;
      },
      release: () => {
        if (count <= 0) throw new Error('lease released more often than held');
        if (--count === 0 && this.#free.length < this.#keep) this.#free.push(buffer);
      },
    };
    return { bytes: buffer.subarray(0, length), lease };
  }
}

/**
 * Pooled chunks on a stream. A stream stays an AsyncIterable<Uint8Array>; a producer that yields
 * a pooled chunk lends it with one hold on its lease, and the stage that finishes with the bytes
 * (a decompressor, a format reader) claims that hold and releases it. Stages that pass chunks
 * through unchanged need not know; a consumer that never claims simply leaves the buffer to the
 * garbage collector. A stage must not keep a chunk (or a view of it) past handing it on unless
 * it claimed the lease and retains it.
 */
const lentChunks = new WeakMap<Uint8Array, Lease>();

export function lendChunk(chunk: Uint8Array, lease: Lease | undefined): Uint8Array {
  if (lease) lentChunks.set(chunk, lease);
  return chunk;
}

/** Takes over the hold a producer lent with `chunk`, if any: the caller now releases it. */
export function claimChunk(chunk: Uint8Array): Lease | undefined {
  const lease = lentChunks.get(chunk);
  if (lease) lentChunks.delete(chunk);
  return lease;
}
