import { BufferPool, claimChunk, lendChunk, type Leased } from './buffer-pool.ts';

/**
 * Regroups a byte stream into blocks of a fixed size aligned to stream offsets. Chunks that
 * already cover a whole block are passed through as views (no copy); only ragged edges are
 * copied, into pooled blocks. A consumer may keep what it gets; one that claims a block's lease
 * (buffer-pool.ts) releases it when done, and the bytes are then reused.
 */
export async function* alignedBlocks(source: AsyncIterable<Uint8Array>, blockSize: number): AsyncGenerator<Uint8Array> {
  const pool = new BufferPool(blockSize, 4);
  let pending: Leased | undefined;
  let filled = 0;
  for await (const chunk of source) {
    const lease = claimChunk(chunk);
    try {
      let at = 0;
      while (at < chunk.byteLength) {
        if (pending === undefined && chunk.byteLength - at >= blockSize) {
          lease?.retain();
          yield lendChunk(chunk.subarray(at, at + blockSize), lease);
          at += blockSize;
          continue;
        }
        pending ??= pool.take(blockSize);
        const take = Math.min(blockSize - filled, chunk.byteLength - at);
        pending.bytes.set(chunk.subarray(at, at + take), filled);
        filled += take;
        at += take;
        if (filled === blockSize) {
          const full = pending;
          pending = undefined;
          filled = 0;
          yield lendChunk(full.bytes, full.lease);
        }
      }
    } finally {
      lease?.release();
    }
  }
  if (pending !== undefined && filled > 0) yield lendChunk(pending.bytes.subarray(0, filled), pending.lease);
}
