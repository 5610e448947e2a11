/** A local file as a random-access input, and a file descriptor (stdin) as a stream. */
import { fstat as fstatCallback, read as readCallback } from 'node:fs';
import { open } from 'node:fs/promises';
import { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CdiError } from '../api/errors.ts';
import { BufferPool, lendChunk, type Leased } from './buffer-pool.ts';
import type { RandomAccessInput } from './contracts.ts';

const readFd = promisify(readCallback);
const fstatFd = promisify(fstatCallback);
/**
 * Chunks of a sequential file read, as large as a descriptor stream's: 4 MiB chunks cost three
 * times the system time (raw and dynamic VHD file conversions ran 1.4 to 2x slower, peak RSS higher).
 */
const streamChunk = 1 << 20;
/** Chunks a descriptor stream hands out: a pipe gives at most 64 KiB per read, joined up to this. */
const descriptorChunk = 1 << 20;
/** The random-access qcow2 reader reads at most 2 MiB at once; ~14 are in flight at most. */
const POOLED_READ = 2 << 20;
/**
 * Data reads of a local file: bytes read into a buffer are copied again into the target's page
 * cache by the write. At 256 KiB both copies stay in the core's 1 MiB L2 cache; at 2 MiB the
 * buffer is evicted before it is written, and the kernel's two copies of a 1 GB qcow2 cost
 * three times the system time (measured: 0.56 s against 1.9 s for 1 GiB on this machine).
 */
const READ_SIZE = 256 << 10;
const POOL_KEEP = 16;

export async function openFileInput(path: string): Promise<RandomAccessInput & { close(): Promise<void> }> {
  const handle = await open(path, 'r').catch((err: unknown) => {
    throw new CdiError('CDI_ERR_INPUT_OPEN', [path, (err as Error).message], { cause: err });
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

  /** Sequential reads with one read ahead, so the disk works while the consumer does; pooled chunks. */
  async function* stream(offset: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const chunks = new BufferPool(streamChunk, 4);
    let position = offset;
    const next = (): Promise<Leased> | undefined => {
      if (position >= size) return undefined;
      const length = Math.min(streamChunk, size - position);
      check(position, length, signal);
      const leased = chunks.take(length);
      const pending = readInto(leased.bytes, position).then(() => leased);
      position += length;
      return pending;
    };
    let pending = next();
    while (pending !== undefined) {
      pending.catch(() => {});
      const chunk = await pending;
      pending = next();
      yield lendChunk(chunk.bytes, chunk.lease);
    }
  }

  return {
    size,
    readSize: READ_SIZE,
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

/**
 * An open file descriptor read to its end as a stream of pooled 1 MiB chunks: `cdi convert -`
 * reads stdin this way (a pipe or a redirected file, never seeked). Node's own stdin stream would
 * allocate a buffer per read. The next chunk is filled while the consumer works on this one, and
 * reading stops once that chunk is full until the consumer takes it. The caller keeps `fd`: it is
 * not closed.
 *
 * A regular file is read with fs.read (the threadpool). Standard input that is a pipe or socket
 * is read by the event loop instead, straight into the chunk: a pipe gives at most 64 KiB per
 * read, and ~16 threadpool round trips per MiB (0.2-1 ms each on a 2-core VM) made
 * `cat image | cdi convert -` run 7-10x slower than `cdi convert - < image`. Only stdio's
 * descriptors: libuv closes any other one it reads, and a FIFO reopened by its /proc path never
 * reports the hang-up of a writer that was gone before the reopen (xz failing at once hung).
 */
export async function* readDescriptor(fd: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const info = await fstatFd(fd);
  if (fd <= 2 && (info.isFIFO() || info.isSocket())) yield* readStream(fd, signal);
  else yield* readFileDescriptor(fd, signal);
}

async function* readStream(fd: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const chunks = new BufferPool(descriptorChunk, 4);
  let current = chunks.take(descriptorChunk);
  let filled = 0;
  const full: Leased[] = [];
  let ended = false;
  let failure: { error: unknown } | undefined;
  let paused = false;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const socket = new Socket({
    fd,
    readable: true,
    writable: false,
    onread: {
      // each read lands in the rest of the current chunk; called after every callback
      buffer: () => current.bytes.subarray(filled),
      callback: (n) => {
        filled += n;
        if (filled < current.bytes.byteLength) return true;
        full.push(current);
        current = chunks.take(descriptorChunk);
        filled = 0;
        // a consumer waiting takes this chunk now and the next one fills; otherwise this is the one read ahead
        paused = wake === undefined;
        notify();
        return !paused;
      },
    },
  });
  socket.on('error', (error) => {
    failure ??= { error };
    notify();
  });
  socket.on('end', () => {
    ended = true;
    notify();
  });
  const onAbort = (): void => {
    failure ??= { error: signal!.reason };
    socket.destroy();
    notify();
  };
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    for (;;) {
      signal?.throwIfAborted();
      const chunk = full.shift();
      if (chunk) {
        if (paused) {
          paused = false;
          socket.resume();
        }
        yield lendChunk(chunk.bytes, chunk.lease);
      } else if (failure) {
        throw failure.error;
      } else if (ended) {
        if (filled > 0) yield lendChunk(current.bytes.subarray(0, filled), current.lease);
        else current.lease?.release();
        return;
      } else {
        await new Promise<void>((resolve) => (wake = resolve));
      }
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    socket.destroy();
  }
}

async function* readFileDescriptor(fd: number, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  const chunks = new BufferPool(descriptorChunk, 4);
  let next: Promise<Filled> | undefined = fill(fd, chunks.take(descriptorChunk), signal);
  while (next) {
    const { bytes, lease, ended }: Filled = await next;
    next = ended ? undefined : fill(fd, chunks.take(descriptorChunk), signal);
    // a consumer that stops early leaves the read ahead to finish (or fail) on its own
    next?.catch(() => {});
    if (bytes.byteLength > 0) yield lendChunk(bytes, lease);
    else lease?.release();
  }
}

interface Filled extends Leased {
  readonly ended: boolean;
}

/** Reads into the whole chunk, fewer bytes only at the end of the input. */
async function fill(fd: number, { bytes, lease }: Leased, signal: AbortSignal | undefined): Promise<Filled> {
  let filled = 0;
  while (filled < bytes.byteLength) {
    signal?.throwIfAborted();
    let n: number;
    try {
      ({ bytesRead: n } = await readFd(fd, bytes, filled, bytes.byteLength - filled, null));
    } catch (err) {
      // a descriptor left non-blocking by whoever made the pipe
      if ((err as { code?: string }).code === 'EAGAIN') {
        await sleep(5);
        continue;
      }
      throw err;
    }
    if (n === 0) return { bytes: bytes.subarray(0, filled), lease, ended: true };
    filled += n;
  }
  return { bytes, lease, ended: false };
}
