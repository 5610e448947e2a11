/**
 * gzip and zstd streams decoded into pooled output chunks. node:zlib's Transform allocates a
 * fresh output buffer per chunk, which at a gigabyte per second is garbage V8 collects only
 * after tens of MiB pile up (ADR 0017); here one engine is driven synchronously (zlib-handle.ts)
 * into buffers that come back once written.
 * Multi-member gzip is handled by node:zlib's native code as in the Transform; bytes after the
 * end of the stream are ignored, as the Transform ignores them.
 */
import zlib from 'node:zlib';
import { BufferPool, claimChunk, lendChunk } from './buffer-pool.ts';
import { openZlibHandle } from './zlib-handle.ts';

const outputChunk = 1 << 20;

type StreamCodec = 'gzip' | 'zstd';

const EMPTY = new Uint8Array(0);

export async function* decodeZlibStream(codec: StreamCodec, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const handle = openZlibHandle(codec === 'gzip' ? 'gunzip' : 'zstd');
  const flush = codec === 'gzip' ? zlib.constants.Z_NO_FLUSH : zlib.constants.ZSTD_e_continue;
  const finish = codec === 'gzip' ? zlib.constants.Z_FINISH : zlib.constants.ZSTD_e_end;
  const pool = new BufferPool(outputChunk, 4);
  let out = pool.take(outputChunk);
  let filled = 0;
  let ended = false;
  const write = (input: Uint8Array, at: number, last: boolean): [number, number] =>
    handle.write(last ? finish : flush, input, at, input.byteLength - at, out.bytes, filled, outputChunk - filled);
  /** Hands out the filled output when full (or at the end) and starts the next one. */
  const full = (): Uint8Array | undefined => {
    if (filled < outputChunk) return undefined;
    const chunk = lendChunk(out.bytes, out.lease);
    out = pool.take(outputChunk);
    filled = 0;
    return chunk;
  };
  try {
    for await (const chunk of source) {
      const lease = claimChunk(chunk);
      try {
        let at = 0;
        while (at < chunk.byteLength) {
          const [produced, consumed] = write(chunk, at, false);
          at += consumed;
          filled += produced;
          const ready = full();
          if (ready) yield ready;
          // room left for output and input left over: the stream has ended
          else if (at < chunk.byteLength) {
            ended = true;
            break;
          }
        }
      } finally {
        lease?.release();
      }
      if (ended) break;
    }
    for (;;) {
      const [produced] = write(EMPTY, 0, true);
      filled += produced;
      const ready = full();
      if (!ready) break;
      yield ready;
    }
    if (filled > 0) yield lendChunk(out.bytes.subarray(0, filled), out.lease);
  } finally {
    handle.close();
  }
}
