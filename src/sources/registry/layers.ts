import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { CdiError, isCdiError } from '../../api/errors.ts';
import type { ByteMeter } from '../meter.ts';
import type { Descriptor } from './manifest.ts';

/** Counts the blob's bytes and checks them against the descriptor's sha256 and size at the end. */
function digestCheck(layer: Descriptor, meter: ByteMeter): Transform {
  const hash = createHash('sha256');
  let size = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.byteLength;
      meter.add(chunk.byteLength);
      callback(null, chunk);
    },
    flush(callback) {
      const digest = `sha256:${hash.digest('hex')}`;
      callback(digest === layer.digest && size === layer.size ? null : new CdiError('CDI_ERR_REGISTRY_DIGEST', [layer.digest, digest, size]));
    },
  });
}

/** The layer's decompressor, from its media type (OCI and Docker names). */
function decoderFor(mediaType: string): Duplex {
  if (/gzip/.test(mediaType)) return zlib.createGunzip();
  if (/zstd/.test(mediaType)) return zlib.createZstdDecompress();
  return new PassThrough();
}

export interface TarEntry {
  name: string;
  type: string;
  size: number;
  body: AsyncIterable<Buffer>;
}

/**
 * The entries of a layer blob's tar, one at a time with backpressure: body (resumingBlob, which
 * codes its own network errors) → sha256 check →
 * decompressor → tar. The iteration ends only after the whole blob was read and its digest
 * matched; a digest, network or decompression failure ends it with a coded error. Stopping
 * early tears the pipeline down without waiting on it.
 */
export async function* layerEntries(body: AsyncIterable<Buffer>, layer: Descriptor, meter: ByteMeter, signal?: AbortSignal): AsyncGenerator<TarEntry> {
  const extract = tar.extract();
  const done = pipeline(body, digestCheck(layer, meter), decoderFor(layer.mediaType), extract as unknown as NodeJS.WritableStream);
  let failure: unknown;
  done.catch((err: unknown) => { failure = err; });
  const coded = (err: unknown): unknown => {
    if (signal?.aborted || isCdiError(err)) return signal?.aborted ? signal.reason ?? err : err;
    const code = (err as { code?: string }).code ?? '';
    if (code.startsWith('Z_') || code.startsWith('ERR_ZSTD') || /zstd|incorrect header|invalid/i.test((err as Error).message)) {
      return new CdiError('CDI_ERR_DECOMPRESS', [layer.mediaType, (err as Error).message], { cause: err });
    }
    return new CdiError('CDI_ERR_ARCHIVE_INVALID', [(err as Error).message], { cause: err });
  };
  let finished = false;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      yield { name: h.name, type: h.type ?? 'file', size: h.size ?? 0, body: entry as unknown as AsyncIterable<Buffer> };
      entry.resume();
    }
    await done;
    finished = true;
  } catch (err) {
    // The pipeline's own error says more than the tar stream's "premature close".
    await Promise.race([done.catch(() => {}), new Promise((r) => setTimeout(r, 50))]);
    throw coded(failure ?? err);
  } finally {
    // Destroying the pipeline's last stage stops the body too (its generator returns).
    if (!finished) extract.destroy();
  }
}
