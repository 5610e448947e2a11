import { finished, type Readable } from 'node:stream';
import { CdiError } from '../api/errors.ts';

/** Largest chunk the engine is handed when several small ones wait. */
const JoinLimit = 1024 * 1024;

/**
 * The one input stream a format-engine run reads, fed by one or more request bodies in turn.
 * A request body is pumped in and paused whenever the queue is full (backpressure), so a fast
 * client can never make the server hold much more than `highWaterMark` bytes in memory. Between
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

  /** Queues a chunk; answers whether there is room for more (false: wait for `whenRoom`). */
  #offer(chunk: Uint8Array): boolean {
    if (this.#failure) throw this.#failure.error;
    if (this.#ended) throw new Error('push after end');
    this.accepted += chunk.byteLength;
    if (this.#detached) return true;
    this.#queue.push(chunk);
    this.#queuedBytes += chunk.byteLength;
    this.#wakeConsumer();
    return this.#queuedBytes < this.#highWaterMark;
  }

  /** Calls `wake` once the queue has room again, or the engine stopped reading, or failed. */
  #whenRoom(wake: () => void): void {
    if (this.#queuedBytes < this.#highWaterMark || this.#detached || this.#failure) wake();
    else this.#producerWakes.push(wake);
  }

  /**
   * Feeds a request body in with 'data' events, pausing it while the queue is full: a body of
   * 16 KiB TLS records costs no promise per record. Resolves at the body's end; rejects when it
   * fails or closes before its end, or when the engine failed. The body is left paused, never
   * destroyed, so the caller can still answer and drain it.
   *
   * With `idleMs`, a body that sends nothing for that long while the feed wants more rejects with
   * CDI_ERR_UPLOAD_IDLE: a stalled client must not hold the upload forever. Time the body spends
   * paused by backpressure is the engine's, not the client's, and is not counted.
   */
  pump(body: Readable, idleMs?: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      let idleTimer: NodeJS.Timeout | undefined;
      const settle = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        clearTimeout(idleTimer);
        body.off('data', onData);
        cleanup();
        if (err === undefined) resolve();
        else {
          body.pause();
          reject(err);
        }
      };
      const waitForClient = (): void => {
        if (idleMs === undefined || settled) return;
        idleTimer = setTimeout(() => settle(new CdiError('CDI_ERR_UPLOAD_IDLE', [idleMs / 1000])), idleMs);
      };
      const onData = (chunk: Buffer): void => {
        idleTimer?.refresh();
        try {
          if (!this.#offer(chunk)) {
            body.pause();
            clearTimeout(idleTimer);
            this.#whenRoom(() => {
              // a failure wakes the body too: report it now rather than at the next chunk
              if (this.#failure) settle(this.#failure.error);
              else if (!settled) {
                waitForClient();
                body.resume();
              }
            });
          }
        } catch (err) {
          settle(err);
        }
      };
      const cleanup = finished(body, { writable: false }, (err) => settle(err ?? undefined));
      waitForClient();
      body.on('data', onData);
    });
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
