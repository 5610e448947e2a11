/** Largest chunk the engine is handed when several small ones wait. */
const JoinLimit = 1024 * 1024;

/**
 * The one input stream a format-engine run reads, fed by one or more request bodies in turn.
 * A request pushes chunks; `push` resolves once the engine has room again (backpressure), so a
 * fast client can never make the server hold more than `highWaterMark` bytes in memory. Between
 * requests the engine simply waits for the next chunk: an interrupted upload keeps its run alive
 * and a continuation request carries on the same byte sequence.
 */
export class ByteFeed implements AsyncIterable<Uint8Array> {
  readonly #highWaterMark: number;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #ended = false;
  #failure: { error: unknown } | undefined;
  // Once the engine stops reading (done early or failed) pushes are dropped instead of queued.
  #detached = false;
  #consumerWake: (() => void) | undefined;
  #producerWakes: Array<() => void> = [];
  /** Bytes accepted from requests so far: the offset a continuation must start at. */
  accepted = 0;

  constructor(highWaterMark = 2 * 1024 * 1024) {
    this.#highWaterMark = highWaterMark;
  }

  async push(chunk: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure.error;
    if (this.#ended) throw new Error('push after end');
    this.accepted += chunk.byteLength;
    if (this.#detached) return;
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    this.#wakeConsumer();
    while (this.#queuedBytes >= this.#highWaterMark && !this.#detached && !this.#failure) {
      await new Promise<void>((resolve) => this.#producerWakes.push(resolve));
    }
    // A failure may have arrived while this push waited.
    const failure = this.#failure as { error: unknown } | undefined;
    if (failure) throw failure.error;
  }

  end(): void {
    this.#ended = true;
    this.#wakeConsumer();
  }

  /** Makes the engine's next read throw, and any waiting push too. */
  fail(error: unknown): void {
    if (this.#failure) return;
    this.#failure = { error };
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#wakeConsumer();
    this.#wakeProducers();
  }

  /** Called when the engine is finished with the stream: later pushes are counted and dropped. */
  detach(): void {
    this.#detached = true;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#wakeProducers();
  }

  /**
   * The next chunk for the engine. Sockets deliver 16 KiB TLS records; when several wait, they
   * are joined (up to 1 MiB) so the engine's per-chunk work runs once per megabyte, not per record.
   */
  #take(): Uint8Array | undefined {
    const first = this.#queue.shift();
    if (!first || this.#queue.length === 0 || first.byteLength >= JoinLimit) {
      if (first) this.#queuedBytes -= first.byteLength;
      return first;
    }
    const parts = [first];
    let size = first.byteLength;
    while (this.#queue.length > 0 && size + this.#queue[0]!.byteLength <= JoinLimit) {
      const next = this.#queue.shift()!;
      parts.push(next);
      size += next.byteLength;
    }
    this.#queuedBytes -= size;
    return parts.length === 1 ? first : Buffer.concat(parts, size);
  }

  #wakeConsumer(): void {
    const wake = this.#consumerWake;
    this.#consumerWake = undefined;
    wake?.();
  }

  #wakeProducers(): void {
    const wakes = this.#producerWakes;
    this.#producerWakes = [];
    for (const wake of wakes) wake();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    try {
      for (;;) {
        if (this.#failure) throw this.#failure.error;
        const chunk = this.#take();
        if (chunk) {
          if (this.#queuedBytes < this.#highWaterMark) this.#wakeProducers();
          yield chunk;
          continue;
        }
        if (this.#ended) return;
        await new Promise<void>((resolve) => {
          this.#consumerWake = resolve;
        });
      }
    } finally {
      this.detach();
    }
  }
}
