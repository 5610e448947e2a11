/** A local file as a random-access input. */
import { open } from 'node:fs/promises';
import { CdiError } from '../api/errors.ts';
import { BufferPool, type Leased } from './buffer-pool.ts';
import type { RandomAccessInput } from './contracts.ts';

const streamChunk = 4 << 20;
/** The random-access qcow2 reader reads at most 2 MiB at once; ~14 are in flight at most. */
const POOLED_READ = 2 << 20;
const POOL_KEEP = 16;

export async function openFileInput(path: string): Promise<RandomAccessInput & { close(): Promise<void> }> {
  const handle = await open(path, 'r').catch((err: unknown) => {
    throw new CdiError('CDI_ERR_USAGE', [`cannot open ${path}: ${(err as Error).message}`], { cause: err });
  });
  const { size } = await handle.stat();
  let closed = false;
  const pool = new BufferPool(POOLED_READ, POOL_KEEP);

  function check(offset: number, length: number, signal: AbortSignal | undefined): void {
    signal?.throwIfAborted();
    // Checked before allocating: a hostile header must not make us reserve memory for bytes that do not exist.
    if (offset + length > size) throw new CdiError('CDI_ERR_TRUNCATED', [`${path} ends at ${size}, wanted ${offset + length}`]);
  }

  async function read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    check(offset, length, signal);
    const buffer = Buffer.allocUnsafe(length);
    await readInto(buffer, offset);
    return buffer;
  }

  async function readLeased(offset: number, length: number, signal?: AbortSignal): Promise<Leased> {
    check(offset, length, signal);
    const leased = pool.take(length);
    await readInto(leased.bytes, offset);
    return leased;
  }

  async function readInto(buffer: Uint8Array, offset: number): Promise<void> {
    const length = buffer.byteLength;
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(buffer, done, length - done, offset + done);
      if (bytesRead === 0) throw new CdiError('CDI_ERR_TRUNCATED', [`${path} ends at ${offset + done}, wanted ${offset + length}`]);
      done += bytesRead;
    }
  }

  /** Sequential reads with one read ahead, so the disk works while the consumer does. */
  async function* stream(offset: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    let position = offset;
    const next = (): Promise<Uint8Array> | undefined => {
      if (position >= size) return undefined;
      const length = Math.min(streamChunk, size - position);
      const pending = read(position, length, signal);
      position += length;
      return pending;
    };
    let pending = next();
    while (pending !== undefined) {
      pending.catch(() => {});
      const chunk = await pending;
      pending = next();
      yield chunk;
    }
  }

  return {
    size,
    read,
    readLeased,
    stream,
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}
