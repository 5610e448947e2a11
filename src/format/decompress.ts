/**
 * Peels compression layers off a stream until the bytes underneath are not compressed, the way
 * CDI's format-readers loop does: each wrapper is matched by magic, at most once.
 * gzip and zstd run in node:zlib (zlib-stream.ts); xz runs in the `xz` tool (see docs/adr/0002).
 */
import { CdiError } from '../api/errors.ts';
import { peek } from './peek.ts';
import { isCompression, sniff, sniffLength, type Compression, type Detected } from './sniff.ts';
import { xzDecompress } from './xz.ts';
import { decodeZlibStream } from './zlib-stream.ts';

export interface Peeled {
  /** What the innermost bytes look like. */
  readonly format: Detected;
  /** Wrappers removed, outermost first. */
  readonly compressions: Compression[];
  /** The first bytes of the innermost stream (at least `sniffLength` unless it is shorter). */
  readonly head: Uint8Array;
  readonly stream: AsyncIterable<Uint8Array>;
}

export async function peelLayers(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): Promise<Peeled> {
  const compressions: Compression[] = [];
  let stream = source;
  for (;;) {
    const { head, stream: replayed } = await peek(stream, sniffLength);
    const format = sniff(head);
    if (!isCompression(format) || compressions.includes(format)) {
      return { format, compressions, head, stream: replayed };
    }
    compressions.push(format);
    stream = decompress(format, replayed, signal);
  }
}

export function decompress(format: Compression, source: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncIterable<Uint8Array> {
  switch (format) {
    case 'gzip':
    case 'zstd':
      return zlibLayer(format, source);
    case 'xz':
      return xzDecompress(source, signal);
  }
}

async function* zlibLayer(name: 'gzip' | 'zstd', source: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* decodeZlibStream(name, source);
  } catch (err) {
    throw decompressError(name, err);
  }
}

function decompressError(name: Compression, err: unknown): unknown {
  if (err instanceof CdiError) return err;
  const code = (err as { code?: string }).code ?? '';
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'Z_BUF_ERROR' || /unexpected end/i.test(message)) {
    return new CdiError('CDI_ERR_TRUNCATED', [`${name} stream ended early`], { cause: err });
  }
  if (code.startsWith('Z_') || code.startsWith('ERR_ZSTD') || code.startsWith('ZSTD_')) {
    return new CdiError('CDI_ERR_DECOMPRESS', [name, message], { cause: err });
  }
  return err;
}
