/**
 * Regroups a byte stream into blocks of a fixed size aligned to stream offsets. Chunks that
 * already cover a whole block are passed through as views (no copy); only ragged edges are
 * copied. Every yielded block is a fresh buffer the consumer may keep.
 */
export async function* alignedBlocks(source: AsyncIterable<Uint8Array>, blockSize: number): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array | undefined;
  let filled = 0;
  for await (const chunk of source) {
    let at = 0;
    while (at < chunk.byteLength) {
      if (pending === undefined && chunk.byteLength - at >= blockSize) {
        yield chunk.subarray(at, at + blockSize);
        at += blockSize;
        continue;
      }
      pending ??= Buffer.allocUnsafe(blockSize);
      const take = Math.min(blockSize - filled, chunk.byteLength - at);
      pending.set(chunk.subarray(at, at + take), filled);
      filled += take;
      at += take;
      if (filled === blockSize) {
        yield pending;
        pending = undefined;
        filled = 0;
      }
    }
  }
  if (pending !== undefined && filled > 0) yield pending.subarray(0, filled);
}
