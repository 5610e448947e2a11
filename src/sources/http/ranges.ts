import { setTimeout as sleep } from 'node:timers/promises';
import { CdiError } from '../../api/errors.ts';
import type { RandomAccessInput } from '../../format/index.ts';
import type { ByteMeter } from '../meter.ts';
import { discard, header, isResumable, redact, requestError, statusError, type HttpClient } from './client.ts';
import { httpDefaults } from './options.ts';

export interface RangeResource {
  readonly url: URL;
  readonly size: number;
  /** A strong ETag or a Last-Modified date: sent as If-Range so a resumed read never mixes versions. */
  readonly validator: string | undefined;
}

/** Parses `bytes <first>-<last>/<size>`. */
export function parseContentRange(value: string | undefined): { first: number; last: number; size: number | undefined } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value?.trim() ?? '');
  if (!m) return undefined;
  return { first: Number(m[1]), last: Number(m[2]), size: m[3] === '*' ? undefined : Number(m[3]) };
}

/** The validator If-Range may carry: a strong ETag, else Last-Modified. */
export function rangeValidator(headers: Record<string, string | string[] | undefined>): string | undefined {
  const etag = header({ headers }, 'etag');
  if (etag && !etag.startsWith('W/')) return etag;
  return header({ headers }, 'last-modified');
}

/**
 * The bytes [start, end) of a resource, as a stream. When the connection drops mid-body the
 * read resumes from the last byte received with Range + If-Range instead of starting over;
 * the idle watchdog and aborts are final.
 */
export async function* fetchRange(
  client: HttpClient, resource: RangeResource, start: number, end: number, meter: ByteMeter, signal?: AbortSignal,
): AsyncGenerator<Uint8Array> {
  let pos = start;
  let failures = 0;
  const maxFailures = client.options.resumeAttempts ?? httpDefaults.resumeAttempts;
  /** Waits before the next attempt, or throws when the failure is final or attempts ran out. */
  const retry = async (err: unknown, transient = isResumable(err)): Promise<void> => {
    if (!transient || ++failures > maxFailures) throw err;
    client.logger.warn({ url: redact(resource.url), offset: pos, attempt: failures, err: (err as Error).message }, 'connection lost, resuming');
    await sleep(Math.min(2000, 50 * 2 ** failures), undefined, { signal });
  };
  while (pos < end) {
    const headers: Record<string, string> = { range: `bytes=${pos}-${end - 1}` };
    if (resource.validator) headers['if-range'] = resource.validator;
    let res;
    try {
      res = await client.send('GET', resource.url, headers, signal);
    } catch (err) {
      await retry(err);
      continue;
    }
    if (res.statusCode !== 206) {
      discard(res.body);
      if (res.statusCode === 200) throw new CdiError('CDI_ERR_HTTP_CHANGED', [pos, 'the server sent the whole resource (If-Range did not match)']);
      // A 5xx while resuming is worth another try (a restarting server); anything else is final.
      await retry(statusError(res.statusCode), res.statusCode >= 500);
      continue;
    }
    const range = parseContentRange(header(res, 'content-range'));
    if (!range || range.first !== pos || (range.size !== undefined && range.size !== resource.size)) {
      discard(res.body);
      throw new CdiError('CDI_ERR_HTTP_CHANGED', [pos, `unexpected Content-Range ${header(res, 'content-range') ?? '(none)'}`]);
    }
    try {
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        const take = Math.min(chunk.byteLength, end - pos);
        if (take <= 0) break;
        pos += take;
        meter.add(take);
        failures = 0;
        yield take === chunk.byteLength ? chunk : chunk.subarray(0, take);
      }
    } catch (err) {
      await retry(requestError(err, resource.url, client.idleMs, signal));
      continue;
    } finally {
      if (pos < end) discard(res.body);
    }
    if (pos < end) await retry(new CdiError('CDI_ERR_HTTP_LENGTH', [redact(resource.url), pos - start, end - start]), true);
  }
}

/** Reads at least this long go through the sequential cursor; shorter ones are fetched alone. */
const cursorMinRead = 256 << 10;
/** A gap up to this long is read and dropped rather than paid for with a new request. */
const cursorMaxSkip = 4 << 20;

async function collect(source: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for await (const chunk of source) parts.push(chunk);
  return parts;
}

/**
 * A server that honours Range, seen as a RandomAccessInput: qcow2 is read random-access without
 * spill (its data runs, read in host order, from one resumable GET), and long sequential streams
 * fetch several ranges at once (bounded memory: connections × chunk size), yielded in order.
 */
export class HttpRangeInput implements RandomAccessInput {
  readonly size: number;
  private readonly client: HttpClient;
  private readonly resource: RangeResource;
  private readonly meter: ByteMeter;
  private readonly closed = new AbortController();
  private cursor: AsyncIterator<Uint8Array> | undefined;
  private cursorPos = 0;
  private cursorPending: Uint8Array | undefined;
  private cursorQueue: Promise<unknown> = Promise.resolve();

  constructor(client: HttpClient, resource: RangeResource, meter: ByteMeter) {
    this.client = client;
    this.resource = resource;
    this.meter = meter;
    this.size = resource.size;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new CdiError('CDI_ERR_TRUNCATED', [`read of ${length} bytes at ${offset} past the end (${this.size})`]);
    }
    if (length === 0) return new Uint8Array(0);
    // Metadata (header, L1/L2 tables) is read where it lies; data runs come in host order and
    // are served from one long GET instead of a request each.
    if (length < cursorMinRead) return this.fetch(offset, length, signal);
    const run = this.cursorQueue.then(() => this.fromCursor(offset, length));
    this.cursorQueue = run.catch(() => {});
    return run;
  }

  /** Takes [offset, offset + length) from the cursor, skipping a short gap or restarting it. */
  private async fromCursor(offset: number, length: number): Promise<Uint8Array> {
    if (!this.cursor || offset < this.cursorPos || offset - this.cursorPos > cursorMaxSkip) {
      await this.cursor?.return?.();
      this.cursor = fetchRange(this.client, this.resource, offset, this.size, this.meter, this.closed.signal)[Symbol.asyncIterator]();
      this.cursorPos = offset;
      this.cursorPending = undefined;
    }
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    try {
      while (at < length) {
        let chunk = this.cursorPending;
        this.cursorPending = undefined;
        if (!chunk) {
          const next = await this.cursor.next();
          if (next.done) throw new CdiError('CDI_ERR_TRUNCATED', [`the source ended at ${this.cursorPos}`]);
          chunk = next.value;
        }
        if (this.cursorPos < offset) {
          const skip = Math.min(chunk.byteLength, offset - this.cursorPos);
          this.cursorPos += skip;
          chunk = chunk.subarray(skip);
          if (chunk.byteLength === 0) continue;
        }
        const take = Math.min(chunk.byteLength, length - at);
        out.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), at);
        at += take;
        this.cursorPos += take;
        if (take < chunk.byteLength) this.cursorPending = chunk.subarray(take);
      }
    } catch (err) {
      this.cursor = undefined;
      throw err;
    }
    return out;
  }

  private async fetch(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const out = Buffer.allocUnsafe(length);
    let at = 0;
    for await (const chunk of fetchRange(this.client, this.resource, offset, offset + length, this.meter, signal ?? this.closed.signal)) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }

  /** Stops requests still in flight. */
  close(): void {
    this.closed.abort(new CdiError('CDI_ERR_ABORTED', ['input closed']));
  }

  stream(offset: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const remaining = this.size - offset;
    const options = this.client.options;
    const connections = options.connections ?? httpDefaults.connections;
    if (connections > 1 && remaining >= (options.parallelThreshold ?? httpDefaults.parallelThreshold)) {
      return this.parallel(offset, connections, options.chunkSize ?? httpDefaults.chunkSize, signal);
    }
    return fetchRange(this.client, this.resource, offset, this.size, this.meter, signal);
  }

  private async *parallel(offset: number, connections: number, chunkSize: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const inflight: Array<Promise<Uint8Array[]>> = [];
    let next = offset;
    const launch = (): void => {
      while (inflight.length < connections && next < this.size) {
        const end = Math.min(this.size, next + chunkSize);
        const pending = collect(fetchRange(this.client, this.resource, next, end, this.meter, controller.signal));
        pending.catch(() => {});
        inflight.push(pending);
        next = end;
      }
    };
    try {
      launch();
      while (inflight.length > 0) {
        const parts = await inflight.shift()!;
        launch();
        yield* parts;
      }
    } finally {
      controller.abort(new CdiError('CDI_ERR_ABORTED', ['range reader closed']));
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
