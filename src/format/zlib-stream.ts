/**
 * gzip and zstd streams decoded into pooled output chunks. node:zlib's Transform allocates a
 * fresh output buffer per chunk, which at a gigabyte per second is garbage V8 collects only
 * after tens of MiB pile up (ADR 0017); here one engine's handle is driven synchronously, the
 * way node:zlib's own `*Sync` functions drive it, into buffers that come back once written.
 * Multi-member gzip is handled by node:zlib's native code as in the Transform; bytes after the
 * end of the stream are ignored, as the Transform ignores them.
 */
import zlib from 'node:zlib';
import { BufferPool, claimChunk, lendChunk } from './buffer-pool.ts';

const outputChunk = 1 << 20;

interface Engine {
  _handle: {
    writeSync(flush: number, input: Uint8Array, inAt: number, inLength: number, out: Uint8Array, outAt: number, outLength: number): void;
    onerror: (message: string, errno: number, code?: string) => void;
  };
  /** [output bytes left, input bytes left] after the last write. */
  _writeState: Uint32Array;
  close(): void;
}

export type StreamCodec = 'gzip' | 'zstd';

class SyncDecoder {
  readonly #engine: Engine;
  readonly #flush: number;
  readonly #finish: number;
  #failure: Error | undefined;

  constructor(codec: StreamCodec) {
    const engine = (codec === 'gzip' ? zlib.createGunzip() : zlib.createZstdDecompress()) as unknown as Engine;
    if (typeof engine._handle?.writeSync !== 'function' || !(engine._writeState instanceof Uint32Array)) {
      throw new Error('this Node.js does not expose the zlib handle the stream decoder drives');
    }
    engine._handle.onerror = (message, errno, code) => { this.#failure = Object.assign(new Error(message), { errno, code }); };
    this.#engine = engine;
    this.#flush = codec === 'gzip' ? zlib.constants.Z_NO_FLUSH : zlib.constants.ZSTD_e_continue;
    this.#finish = codec === 'gzip' ? zlib.constants.Z_FINISH : zlib.constants.ZSTD_e_end;
  }

  /** One step: returns [output bytes produced, input bytes consumed]; throws what the codec reports. */
  write(input: Uint8Array, inAt: number, out: Uint8Array, outAt: number, last: boolean): [number, number] {
    const inLength = input.byteLength - inAt;
    const outLength = out.byteLength - outAt;
    this.#engine._handle.writeSync(last ? this.#finish : this.#flush, input, inAt, inLength, out, outAt, outLength);
    if (this.#failure) throw this.#failure;
    const state = this.#engine._writeState;
    return [outLength - state[0]!, inLength - state[1]!];
  }

  close(): void {
    this.#engine.close();
  }
}

const EMPTY = new Uint8Array(0);

export async function* decodeZlibStream(codec: StreamCodec, source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const decoder = new SyncDecoder(codec);
  const pool = new BufferPool(outputChunk, 4);
  let out = pool.take(outputChunk);
  let filled = 0;
  let ended = false;
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
          const [produced, consumed] = decoder.write(chunk, at, out.bytes, filled, false);
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
      const [produced] = decoder.write(EMPTY, 0, out.bytes, filled, true);
      filled += produced;
      const ready = full();
      if (!ready) break;
      yield ready;
    }
    if (filled > 0) yield lendChunk(out.bytes.subarray(0, filled), out.lease);
  } finally {
    decoder.close();
  }
}
