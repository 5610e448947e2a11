/**
 * The first stage on a source stream: counts bytes for progress and feeds the checksum. The
 * layers above may stop reading early (a reader that needs no more, a decompressor torn down);
 * closing them does not close the source, so the pipeline can still read it to the end and
 * hash every byte before it declares success.
 */
import type { ChecksumTee } from './checksum.ts';
import type { ProgressMeter } from './progress.ts';

export class SourceTap {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #done = false;

  constructor(source: AsyncIterable<Uint8Array>, meter: ProgressMeter, checksum: ChecksumTee | undefined) {
    this.#iterator = tap(source, meter, checksum)[Symbol.asyncIterator]();
  }

  /** The source as the upper layers see it: their `return()` leaves the source open. */
  get stream(): AsyncIterable<Uint8Array> {
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => this.#next(),
        return: async () => ({ done: true, value: undefined }),
      }),
    };
  }

  /** Reads and discards what the layers above left unread. */
  async drain(): Promise<void> {
    while (!this.#done) await this.#next();
  }

  /**
   * Releases the source. Not awaited to completion: a source stalled inside a read (a silent
   * peer) would hold the generator, and failing must not wait for it.
   */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#iterator.return?.()?.catch(() => {});
  }

  async #next(): Promise<IteratorResult<Uint8Array>> {
    if (this.#done) return { done: true, value: undefined };
    const result = await this.#iterator.next();
    if (result.done) this.#done = true;
    return result;
  }
}

async function* tap(source: AsyncIterable<Uint8Array>, meter: ProgressMeter, checksum: ChecksumTee | undefined): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    meter.sourceBytes += chunk.byteLength;
    checksum?.update(chunk);
    yield chunk;
  }
}
