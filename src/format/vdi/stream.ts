/**
 * One-pass VDI reader for pipes and uploads. The header and block map come first in every image
 * VirtualBox or qemu writes, so the data blocks are emitted as they pass, in host order. Should
 * a map follow part of the data area, the data bytes that pass before it are kept in the scratch
 * store (as one-pass qcow2 does) and emitted once the map is read.
 */
import { CdiError } from '../../api/errors.ts';
import { BufferPool } from '../buffer-pool.ts';
import type { ImageReader } from '../contracts.ts';
import type { Extent } from '../extent.ts';
import { abortError } from '../abort.ts';
import { ByteSource } from '../byte-source.ts';
import { SpillStore } from '../spill.ts';
import type { StreamOptions } from '../qcow2/stream.ts';
import { decodeVdiMap, ENTRY_DISCARDED, parseVdiHeader, VDI_HEADER_BYTES, type VdiHeader } from './header.ts';

/** Bytes per extent when joining small stream chunks, and per piece when emitting kept bytes. */
const PIECE = 1024 * 1024;
/** Memory window of the scratch store before kept bytes go to its file. */
const LOOKBACK = 256 * 1024;

class StreamReader implements ImageReader {
  readonly format = 'vdi';
  readonly virtualSize: number;
  private readonly h: VdiHeader;
  private readonly src: ByteSource;
  private readonly store: SpillStore;
  private readonly signal: AbortSignal | undefined;
  private readonly pieces = new BufferPool(PIECE, 8);

  constructor(h: VdiHeader, src: ByteSource, opts: StreamOptions) {
    this.h = h;
    this.virtualSize = h.virtualSize;
    this.src = src;
    this.signal = opts.signal;
    this.store = new SpillStore(opts.scratchDir, opts.spillLimit ?? Number.POSITIVE_INFINITY, LOOKBACK);
  }

  spillBytes(): number {
    return this.store.spilled();
  }

  async *extents(): AsyncIterable<Extent> {
    try {
      const h = this.h;
      if (h.blocks > 0) {
        await this.passTo(h.mapOffset, 'block map', true);
        const map = decodeVdiMap(await this.src.read(h.mapBytes), h);
        // data block → guest block, so the blocks can be taken in host order
        const guestOf = new Int32Array(h.blocksAllocated).fill(-1);
        for (let i = 0; i < h.blocks; i++) {
          const entry = map[i]!;
          if (entry === ENTRY_DISCARDED) yield { kind: 'zero', offset: i * h.blockSize, length: this.guestLength(i) };
          else if (entry < h.blocksAllocated) guestOf[entry] = i;
        }
        for (let block = 0; block < h.blocksAllocated; block++) {
          const guestBlock = guestOf[block]!;
          if (guestBlock >= 0) yield* this.block(h.dataOffset + block * h.blockSize, guestBlock * h.blockSize, this.guestLength(guestBlock));
        }
      }
      await this.src.drain();
    } catch (err) {
      if (this.signal?.aborted) throw abortError(this.signal);
      throw err;
    } finally {
      await this.src.close();
      await this.store.close();
    }
  }

  private guestLength(guestBlock: number): number {
    return Math.min(this.h.blockSize, this.h.virtualSize - guestBlock * this.h.blockSize);
  }

  /** Moves the stream to `host` (where `what` starts); with `keep`, bytes of the data area that pass are kept for later. */
  private async passTo(host: number, what: string, keep: boolean): Promise<void> {
    while (this.src.pos < host) {
      const at = this.src.pos;
      const bytes = await this.src.take(host - at);
      if (!bytes) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended at ${at}, before the VDI ${what} at ${host}`]);
      if (!keep || at + bytes.byteLength <= this.h.dataOffset) continue;
      const from = Math.max(at, this.h.dataOffset);
      await this.store.keep(from, bytes.subarray(from - at));
    }
  }

  private async *block(host: number, guest: number, length: number): AsyncGenerator<Extent> {
    let done = 0;
    while (done < length && host + done < this.src.pos) {
      const n = Math.min(PIECE, length - done, this.src.pos - host - done);
      const out = new Uint8Array(n);
      for (let got = 0; got < n;) {
        const copied = await this.store.copy(host + done + got, out, got, n - got);
        if (copied === 0) throw new CdiError('CDI_ERR_INTERNAL', [`VDI data at ${host + done + got} was not kept`]);
        got += copied;
      }
      yield { kind: 'data', offset: guest + done, data: out };
      done += n;
    }
    if (done === length) return;
    await this.passTo(host + done, 'data block', false);
    while (done < length) {
      const piece = await this.src.takeExtent(length - done, this.pieces, PIECE);
      if (!piece) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the VDI data block at ${host}`]);
      const { bytes, lease } = piece;
      yield { kind: 'data', offset: guest + done, data: bytes, ...(lease ? { lease } : {}) };
      done += bytes.byteLength;
    }
  }
}

/** Reads the header from the stream; the returned reader continues from there. */
export async function openVdiStream(stream: AsyncIterable<Uint8Array>, opts: StreamOptions): Promise<ImageReader> {
  const src = new ByteSource(stream, opts.signal);
  try {
    // parsed before the next read, which may hand the chunk under these bytes back to its pool
    const header = parseVdiHeader(await src.read(VDI_HEADER_BYTES));
    return new StreamReader(header, src, opts);
  } catch (err) {
    await src.close();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}
