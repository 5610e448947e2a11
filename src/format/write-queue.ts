/**
 * Keeps positioned writes in flight while the reader produces the next extent: `push` waits
 * only when the bytes or operations in flight reach their limits. The first failure is kept
 * and thrown by the next `push` or by `drain`.
 */
export class WriteQueue {
  readonly #maxBytes: number;
  readonly #maxOps: number;
  readonly #inFlight = new Set<Promise<void>>();
  #bytes = 0;
  #error: unknown;
  #failed = false;

  constructor(maxBytes = 8 << 20, maxOps = 4) {
    this.#maxBytes = maxBytes;
    this.#maxOps = maxOps;
  }

  async push(bytes: number, write: () => Promise<void>): Promise<void> {
    this.#throwIfFailed();
    while (this.#inFlight.size > 0 && (this.#bytes + bytes > this.#maxBytes || this.#inFlight.size >= this.#maxOps)) {
      await Promise.race(this.#inFlight);
      this.#throwIfFailed();
    }
    this.#bytes += bytes;
    const op: Promise<void> = write().then(
      () => {},
      (err: unknown) => {
        if (!this.#failed) this.#error = err;
        this.#failed = true;
      },
    ).finally(() => {
      this.#bytes -= bytes;
      this.#inFlight.delete(op);
    });
    this.#inFlight.add(op);
  }

  /** Waits for every write in flight; throws the first failure. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
    this.#throwIfFailed();
  }

  /** Waits for writes in flight without reporting their failures (used when aborting). */
  async settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.race(this.#inFlight);
  }

  #throwIfFailed(): void {
    if (this.#failed) throw this.#error;
  }
}
