import { CdiError } from '../../api/errors.ts';
import { discard, isResumable, redact, requestError, resumeBackoff, type HttpClient, type HttpResponse } from '../http/client.ts';
import { httpDefaults } from '../http/options.ts';
import { parseContentRange } from '../http/ranges.ts';

/** Asks for the blob, from byte `from` on (with Range) when from > 0. */
export type BlobOpener = (from: number) => Promise<HttpResponse>;

/**
 * A blob's bytes that survive dropped connections: when the request or its body fails mid-way
 * (or the body ends short of the descriptor's size) the blob is asked again from the next byte
 * instead of the import starting over. Blobs are content-addressed and the caller hashes every
 * byte against the digest, so a resumed read cannot be wrong unnoticed. A registry that ignores
 * Range and sends the whole blob again is read past the bytes already had. The idle watchdog,
 * aborts and HTTP errors are final, as for HTTP sources.
 */
export async function* resumingBlob(http: HttpClient, size: number, open: BlobOpener, signal?: AbortSignal): AsyncGenerator<Buffer> {
  let res: HttpResponse | undefined;
  let url: URL | undefined;
  let skip = 0;
  let got = 0;
  let failures = 0;
  const maxFailures = http.options.resumeAttempts ?? httpDefaults.resumeAttempts;
  for (;;) {
    try {
      if (!res) {
        res = await open(got);
        url = res.url;
        skip = got === 0 ? 0 : res.statusCode === 206 ? checkedResume(res, got) : got;
      }
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        if (skip >= chunk.byteLength) {
          skip -= chunk.byteLength;
          continue;
        }
        const bytes = skip > 0 ? chunk.subarray(skip) : chunk;
        skip = 0;
        got += bytes.byteLength;
        failures = 0;
        yield bytes;
      }
      // A body that ends short without an error (a proxy closing cleanly) is a drop too.
      if (got >= size) return;
      throw new CdiError('CDI_ERR_HTTP_REQUEST', [`${redact(res.url)}: body ended at ${got} of ${size} bytes`], {
        cause: Object.assign(new Error('short body'), { code: 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' }),
      });
    } catch (err) {
      if (res) discard(res.body);
      res = undefined;
      const coded = url ? requestError(err, url, http.idleMs, signal) : err;
      if (!isResumable(coded) || ++failures > maxFailures) throw coded;
      http.logger.warn({ url: url && redact(url), offset: got, attempt: failures, err: (coded as Error).message }, 'blob connection lost, resuming');
      await resumeBackoff(failures, signal);
    }
  }
}

/** A 206 must start where we asked; anything else is not the blob's next bytes. Nothing to skip. */
function checkedResume(res: HttpResponse, from: number): number {
  const value = res.headers['content-range'];
  const range = parseContentRange(typeof value === 'string' ? value : undefined);
  if (range?.first !== from) {
    discard(res.body);
    throw new CdiError('CDI_ERR_REGISTRY', [redact(res.url), `resumed at ${from}, the registry sent bytes from ${range?.first ?? '(no Content-Range)'}`]);
  }
  return 0;
}
