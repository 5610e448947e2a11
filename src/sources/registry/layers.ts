import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { CdiError } from '../../api/errors.ts';
import { requestError, type HttpClient, type HttpResponse } from '../http/client.ts';
import type { ByteMeter } from '../meter.ts';
import type { Descriptor } from './manifest.ts';

/** The blob's bytes as they arrive, counted, then checked against the descriptor's sha256 and size. */
export async function* verifiedBlob(res: HttpResponse, layer: Descriptor, meter: ByteMeter, http: HttpClient, signal?: AbortSignal): AsyncGenerator<Buffer> {
  const hash = createHash('sha256');
  let size = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.byteLength;
      meter.add(chunk.byteLength);
      yield chunk;
    }
  } catch (err) {
    throw requestError(err, res.url, http.idleMs, signal);
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (digest !== layer.digest || size !== layer.size) throw new CdiError('CDI_ERR_REGISTRY_DIGEST', [layer.digest, digest, size]);
}

/** Peeks the first bytes and decompresses gzip or zstd layers; plain tar passes through. */
async function* decompressed(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const iterator = source[Symbol.asyncIterator]();
  const first = await iterator.next();
  if (first.done) return;
  const head = first.value;
  const rest = (async function* () {
    yield head;
    for (let n = await iterator.next(); !n.done; n = await iterator.next()) yield n.value;
  })();
  let decoder: NodeJS.ReadWriteStream | undefined;
  if (head[0] === 0x1f && head[1] === 0x8b) decoder = zlib.createGunzip();
  else if (head.readUInt32LE(0) === 0xfd2fb528) decoder = zlib.createZstdDecompress();
  if (!decoder) {
    yield* rest;
    return;
  }
  const input = Readable.from(rest);
  const done = pipeline(input, decoder as NodeJS.WritableStream);
  done.catch(() => {});
  try {
    for await (const chunk of decoder as AsyncIterable<Buffer>) yield chunk;
  } finally {
    input.destroy();
  }
  await done.catch((err: unknown) => {
    throw err instanceof CdiError ? err : new CdiError('CDI_ERR_DECOMPRESS', ['layer', (err as Error).message], { cause: err });
  });
}

export interface TarEntry {
  name: string;
  type: string;
  size: number;
  body: AsyncIterable<Buffer>;
}

/**
 * The entries of a layer's tar, one at a time with backpressure. The layer blob is read to its
 * end (so its digest is checked) before the iteration finishes; a digest or decompression
 * failure ends the iteration with that error.
 */
export async function* layerEntries(blob: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const extract = tar.extract();
  const input = Readable.from(decompressed(blob));
  const done = pipeline(input, extract);
  done.catch(() => {});
  try {
    for await (const entry of extract) {
      const h = entry.header;
      yield { name: h.name, type: h.type ?? 'file', size: h.size ?? 0, body: entry as unknown as AsyncIterable<Buffer> };
      entry.resume();
    }
  } catch (err) {
    throw err instanceof CdiError ? err : new CdiError('CDI_ERR_ARCHIVE_INVALID', [(err as Error).message], { cause: err });
  } finally {
    input.destroy();
  }
  // tar-stream stops at the end-of-archive blocks; the rest of the blob must still be hashed.
  await done.catch((err: unknown) => {
    throw err instanceof CdiError ? err : new CdiError('CDI_ERR_ARCHIVE_INVALID', [(err as Error).message], { cause: err });
  });
}
