/**
 * Starts flushing the target while the conversion goes on. Linux holds written pages in memory
 * until a sync (or until dirty memory passes a fraction of RAM), so a plain write-then-fsync
 * pays for the whole flush after the last byte arrives. A datasync after every `every` bytes
 * lets the disk work while the source is still being read: measured on a 1 GiB HTTP import,
 * the final fsync went from ~0.5 s to under 0.1 s. A failed early datasync is kept and thrown
 * by `settle`: Linux reports a writeback error to each open file only once, so swallowing it
 * here would let the final fsync succeed over lost data.
 */
import type { FileHandle } from 'node:fs/promises';

const DEFAULT_EVERY = 128 << 20;

export class EarlyWriteback {
  readonly #handle: FileHandle;
  readonly #every: number;
  #since = 0;
  #syncing: Promise<void> | undefined;
  #failure: unknown;

  constructor(handle: FileHandle, every = DEFAULT_EVERY) {
    this.#handle = handle;
    this.#every = every;
  }

  /** Counts bytes whose write completed; starts a datasync when enough piled up and none runs. */
  written(bytes: number): void {
    this.#since += bytes;
    if (this.#since < this.#every || this.#syncing || this.#failure !== undefined) return;
    this.#since = 0;
    this.#syncing = this.#handle.datasync().then(
      () => { this.#syncing = undefined; },
      (err: unknown) => {
        this.#failure = err;
        this.#syncing = undefined;
      },
    );
  }

  /** Waits for the datasync in flight; throws the first one that failed. */
  async settle(): Promise<void> {
    await this.#syncing;
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Waits for the datasync in flight, ignoring failures (aborting). */
  async quiesce(): Promise<void> {
    await this.#syncing;
  }
}
