/**
 * A block device (or an existing file used like one) as the target disk. Its size is the
 * capacity. Zero runs and the stretches the image never mentions are written as zeros, unless
 * the caller says the device is already zeroed. The size cannot change.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { Lease } from './buffer-pool.ts';
import { deviceSize } from './device-size.ts';
import type { ExtentSink } from './contracts.ts';
import { Coverage } from './coverage.ts';
import type { TargetSink } from './sink-file.ts';
import { checkCapacity, queueZeros, targetError, writeFully } from './target-io.ts';
import { WriteQueue } from './write-queue.ts';
import { EarlyWriteback } from './writeback.ts';

interface BlockSinkOptions {
  readonly capacity?: number;
  /** The device reads as zeros already (thin-provisioned, freshly discarded). */
  readonly zeroed?: boolean;
}

export async function openBlockSink(path: string, options: BlockSinkOptions = {}): Promise<TargetSink> {
  const size = await deviceSize(path);
  const handle = await open(path, 'r+').catch((err: unknown) => { throw targetError(path, err); });
  return new BlockSink(path, handle, Math.min(size, options.capacity ?? size), options.zeroed ?? false);
}

class BlockSink implements TargetSink, ExtentSink {
  readonly capacity: number;
  readonly #path: string;
  readonly #handle: FileHandle;
  readonly #zeroed: boolean;
  readonly #queue = new WriteQueue();
  readonly #coverage = new Coverage();
  readonly #writeback: EarlyWriteback;
  #written = 0;
  #closed = false;

  constructor(path: string, handle: FileHandle, capacity: number, zeroed: boolean) {
    this.capacity = capacity;
    this.#path = path;
    this.#handle = handle;
    this.#writeback = new EarlyWriteback(handle);
    this.#zeroed = zeroed;
  }

  writtenBytes(): number {
    return this.#written;
  }

  readonly releasesLeases = true;

  async write(offset: number, data: Uint8Array, lease?: Lease): Promise<void> {
    checkCapacity(offset + data.byteLength, this.capacity);
    this.#coverage.add(offset, offset + data.byteLength);
    this.#written += data.byteLength;
    // held until the bytes are on the device; if the queue has failed, the hold is just never released
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
    if (this.#zeroed) return;
    this.#coverage.add(offset, offset + length);
    this.#written += length;
    await queueZeros(this.#queue, this.#handle, offset, offset + length, this.#path);
  }

  async finish(size: number): Promise<void> {
    checkCapacity(size, this.capacity);
    if (!this.#zeroed) {
      for (const gap of this.#coverage.gaps(size)) {
        this.#written += gap.end - gap.start;
        await queueZeros(this.#queue, this.#handle, gap.start, gap.end, this.#path);
      }
    }
    await this.#queue.drain();
    try {
      await this.#writeback.settle();
      await this.#handle.sync();
    } catch (err) {
      throw targetError(this.#path, err);
    }
    await this.#close();
  }

  /** Zeroes the first MiB so a half-written device never boots or probes as a disk. */
  async abort(): Promise<void> {
    await this.#queue.settle();
    await this.#writeback.quiesce();
    if (this.#closed) return;
    const head = Buffer.alloc(Math.min(1 << 20, this.capacity));
    await writeFully(this.#handle, head, 0).catch(() => {});
    await this.#handle.sync().catch(() => {});
    await this.#close().catch(() => {});
  }

  async #close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }
}
