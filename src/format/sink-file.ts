/**
 * A regular file as the target disk. Data is written at its offsets and zero runs are never
 * written, so the file stays sparse; the size is set with ftruncate. With preallocation the
 * whole size is allocated at the end (`fallocate`, else zeros written over the holes).
 */
import { execFile } from 'node:child_process';
import { open, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { Lease } from './buffer-pool.ts';
import type { ExtentSink } from './contracts.ts';
import { Coverage } from './coverage.ts';
import { checkCapacity, queueZeros, targetError, writeFully } from './target-io.ts';
import { WriteQueue } from './write-queue.ts';
import { EarlyWriteback } from './writeback.ts';

const run = promisify(execFile);

interface FileSinkOptions {
  readonly capacity: number;
  readonly preallocate?: boolean;
}

export interface TargetSink extends ExtentSink {
  /** Guest bytes handed to the target so far (data, and zeros where they must be written). */
  writtenBytes(): number;
}

export async function openFileSink(path: string, options: FileSinkOptions): Promise<TargetSink> {
  const existed = await stat(path).then(
    (s) => {
      if (!s.isFile()) throw targetError(path, new Error('not a regular file'));
      return true;
    },
    () => false,
  );
  const handle = await open(path, 'w').catch((err: unknown) => { throw targetError(path, err); });
  return new FileSink(path, handle, existed, options);
}

class FileSink implements TargetSink {
  readonly capacity: number;
  readonly #path: string;
  readonly #handle: FileHandle;
  readonly #existed: boolean;
  readonly #preallocate: boolean;
  readonly #queue = new WriteQueue();
  readonly #coverage = new Coverage();
  readonly #writeback: EarlyWriteback;
  #written = 0;
  #closed = false;

  constructor(path: string, handle: FileHandle, existed: boolean, options: FileSinkOptions) {
    this.capacity = options.capacity;
    this.#path = path;
    this.#handle = handle;
    this.#writeback = new EarlyWriteback(handle);
    this.#existed = existed;
    this.#preallocate = options.preallocate ?? false;
  }

  writtenBytes(): number {
    return this.#written;
  }

  readonly releasesLeases = true;

  async write(offset: number, data: Uint8Array, lease?: Lease): Promise<void> {
    checkCapacity(offset + data.byteLength, this.capacity);
    if (this.#preallocate) this.#coverage.add(offset, offset + data.byteLength);
    this.#written += data.byteLength;
    // held until the bytes are in the file; if the queue has failed, the hold is just never released
    lease?.retain();
    await this.#queue.push(data.byteLength, () =>
      writeFully(this.#handle, data, offset)
        .then(() => this.#writeback.written(data.byteLength))
        .finally(() => lease?.release())
        .catch((err: unknown) => { throw targetError(this.#path, err); }),
    );
  }

  async writeZeros(offset: number, length: number): Promise<void> {
    checkCapacity(offset + length, this.capacity);
  }

  async finish(size: number): Promise<void> {
    checkCapacity(size, this.capacity);
    await this.#queue.drain();
    try {
      await this.#handle.truncate(size);
      if (this.#preallocate) await this.#allocate(size);
      await this.#writeback.settle();
      await this.#handle.sync();
    } catch (err) {
      throw targetError(this.#path, err);
    }
    await this.#close();
  }

  async abort(): Promise<void> {
    await this.#queue.settle();
    await this.#writeback.quiesce();
    await this.#close().catch(() => {});
    if (this.#existed) await truncate(this.#path, 0).catch(() => {});
    else await unlink(this.#path).catch(() => {});
  }

  async #allocate(size: number): Promise<void> {
    if (size === 0) return;
    const allocated = await run('fallocate', ['-l', String(size), this.#path]).then(() => true, () => false);
    if (allocated) return;
    for (const gap of this.#coverage.gaps(size)) await queueZeros(this.#queue, this.#handle, gap.start, gap.end, this.#path);
    await this.#queue.drain();
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }
}
