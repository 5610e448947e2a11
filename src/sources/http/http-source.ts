import { ByteMeter } from '../meter.ts';
import type { ImportSource } from '../source.ts';
import { discard, header, HttpClient, redact, requestError, statusError, type HttpResponse, type RequestSigner } from './client.ts';
import type { HttpOptions } from './options.ts';
import { HttpRangeInput, parseContentRange, rangeValidator } from './ranges.ts';

/** Counts and forwards the body of a plain (non-range) GET; errors become coded errors. */
async function* meteredBody(res: HttpResponse, meter: ByteMeter, client: HttpClient, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      meter.add(chunk.byteLength);
      yield chunk;
    }
  } catch (err) {
    throw requestError(err, res.url, client.idleMs, signal);
  } finally {
    discard(res.body);
  }
}

/**
 * Opens an HTTP(S) endpoint. One probing GET asks for `Range: bytes=0-`: a 206 means the server
 * honours ranges and the engine gets a RandomAccessInput; a 200 is streamed as it is (servers
 * without ranges, HEAD forbidden or not). Anything else is CDI's "expected status code 200" error.
 */
export interface HttpSourceHooks {
  /** Signs every request (S3). */
  signer?: RequestSigner;
  /** Turns an unexpected status into an error (S3 reads its XML error body); default CDI's status text. */
  statusError?: (res: HttpResponse) => Promise<Error>;
}

export async function openHttpSource(
  endpoint: string, options: HttpOptions, signal?: AbortSignal, hooks: HttpSourceHooks = {},
): Promise<ImportSource> {
  const client = await HttpClient.create(options, hooks.signer);
  try {
    let res = await client.send('GET', endpoint, { range: 'bytes=0-' }, signal);
    if (res.statusCode === 416) {
      // An empty file cannot satisfy bytes=0-; ask again without a range.
      discard(res.body);
      res = await client.send('GET', endpoint, {}, signal);
    }
    const contentType = header(res, 'content-type');
    if ((res.statusCode === 200 || res.statusCode === 206) && contentType?.startsWith('text/')) {
      client.logger.warn({ contentType }, 'unexpected content type for a disk image');
    }
    const description = redact(res.url);
    const range = res.statusCode === 206 ? parseContentRange(header(res, 'content-range')) : undefined;
    if (range?.size !== undefined && range.first === 0) {
      discard(res.body);
      const meter = new ByteMeter(range.size);
      const resource = { url: res.url, size: range.size, validator: rangeValidator(res.headers) };
      client.logger.info({ url: description, size: range.size, validator: resource.validator }, 'server honours Range');
      const input = new HttpRangeInput(client, resource, meter);
      return {
        input: { kind: 'random', input },
        meter,
        description,
        complete: async () => {},
        close: async () => {
          input.close();
          await client.close();
        },
      };
    }
    // `bytes 0-…/*` (total unknown) is the whole resource too: stream it.
    const wholeBody = res.statusCode === 200 || (range?.first === 0 && range.size === undefined);
    if (!wholeBody) {
      if (hooks.statusError) throw await hooks.statusError(res);
      discard(res.body);
      throw statusError(res.statusCode);
    }
    const length = header(res, 'content-length');
    const size = length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined;
    const meter = new ByteMeter(size);
    client.logger.info({ url: description, size }, 'server does not honour Range: streaming');
    return {
      input: { kind: 'stream', stream: meteredBody(res, meter, client, signal), ...(size !== undefined ? { size } : {}) },
      meter,
      description,
      complete: async () => {},
      close: () => client.close(),
    };
  } catch (err) {
    await client.close();
    throw err;
  }
}
