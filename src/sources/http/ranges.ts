import { CdiError } from '../../api/errors.ts';
import { BufferPool, lendChunk, type Leased } from '../../format/buffer-pool.ts';
import type { RandomAccessInput } from '../../format/index.ts';
import type { ByteMeter } from '../meter.ts';
import { discard, header, isResumable, redact, requestError, resumeBackoff, statusError, type HttpClient } from './client.ts';
import { httpDefaults } from './options.ts';
import { RangeReader } from './range-reader.ts';

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
    await resumeBackoff(failures, signal);
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
/** The qcow2 reader's data reads are at most 2 MiB; about 14 are in flight at most. */
const pooledRead = 2 << 20;
const poolKeep = 16;
/** Buffer size of a single-connection stream. */
const streamChunk = 2 << 20;

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
  private cursor: RangeReader | undefined;
  private cursorQueue: Promise<unknown> = Promise.resolve();
  private readonly pool = new BufferPool(pooledRead, poolKeep);

  constructor(client: HttpClient, resource: RangeResource, meter: ByteMeter) {
    this.client = client;
    this.resource = resource;
    this.meter = meter;
    this.size = resource.size;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return (await this.readSome(offset, length, false, signal)).bytes;
  }

  /** As `read`, data runs into pooled buffers the engine gives back once written (no garbage to collect). */
  readLeased(offset: number, length: number, signal?: AbortSignal): Promise<Leased> {
    return this.readSome(offset, length, true, signal);
  }

  private async readSome(offset: number, length: number, pooled: boolean, signal?: AbortSignal): Promise<Leased> {
    if (offset < 0 || length < 0 || offset + length > this.size) {
      throw new CdiError('CDI_ERR_TRUNCATED', [`read of ${length} bytes at ${offset} past the end (${this.size})`]);
    }
    if (length === 0) return { bytes: new Uint8Array(0), lease: undefined };
    // Metadata (header, L1/L2 tables) is read where it lies; data runs come in host order and
    // are served from one long GET instead of a request each.
    if (length < cursorMinRead) return { bytes: await this.fetch(offset, length, signal), lease: undefined };
    const run = this.cursorQueue.then(() => this.fromCursor(offset, length, pooled));
    this.cursorQueue = run.catch(() => {});
    return run;
  }

  /** Takes [offset, offset + length) from the cursor, skipping a short gap or restarting it. */
  private async fromCursor(offset: number, length: number, pooled: boolean): Promise<Leased> {
    if (!this.cursor || offset < this.cursor.pos || offset - this.cursor.pos > cursorMaxSkip) {
      this.cursor?.close();
      this.cursor = new RangeReader(this.client, this.resource, offset, this.size, this.meter, this.closed.signal);
    }
    const cursor = this.cursor;
    const out: Leased = pooled ? this.pool.take(length) : { bytes: Buffer.allocUnsafe(length), lease: undefined };
    try {
      await cursor.skip(offset - cursor.pos);
      await cursor.fill(out.bytes);
    } catch (err) {
      out.lease?.release();
      cursor.close();
      this.cursor = undefined;
      throw err;
    }
    return out;
  }

  private async fetch(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    return this.readRange(offset, offset + length, signal ?? this.closed.signal);
  }

  private async readRange(start: number, end: number, signal: AbortSignal, into: Uint8Array = Buffer.allocUnsafe(end - start)): Promise<Uint8Array> {
    const reader = new RangeReader(this.client, this.resource, start, end, this.meter, signal);
    try {
      await reader.fill(into);
    } finally {
      reader.close();
    }
    return into;
  }

/** Stops requests still in flight. */
  close(): void {
    this.cursor?.close();
    this.closed.abort(new CdiError('CDI_ERR_ABORTED', ['input closed']));
  }

  stream(offset: number, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    const remaining = this.size - offset;
    const options = this.client.options;
    const connections = options.connections ?? httpDefaults.connections;
    if (connections > 1 && remaining >= (options.parallelThreshold ?? httpDefaults.parallelThreshold)) {
      return this.parallel(offset, connections, options.chunkSize ?? httpDefaults.chunkSize, signal);
    }
    return this.sequential(offset, signal);
  }

  /** Stream chunks are pooled and lent downstream (buffer-pool.ts): a decoder gives them back. */
  private async *sequential(offset: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const chunks = new BufferPool(streamChunk, 3);
    const reader = new RangeReader(this.client, this.resource, offset, this.size, this.meter, signal);
    try {
      while (reader.pos < this.size) {
        const out = chunks.take(Math.min(streamChunk, this.size - reader.pos));
        await reader.fill(out.bytes);
        yield lendChunk(out.bytes, out.lease);
      }
    } finally {
      reader.close();
    }
  }

  private async *parallel(offset: number, connections: number, chunkSize: number, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    const controller = new AbortController();
    const onAbort = (): void => controller.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const chunks = new BufferPool(chunkSize, connections + 2);
    const inflight: Array<Promise<Leased>> = [];
    let next = offset;
    const launch = (): void => {
      while (inflight.length < connections && next < this.size) {
        const end = Math.min(this.size, next + chunkSize);
        const out = chunks.take(end - next);
        const pending = this.readRange(next, end, controller.signal, out.bytes).then(() => out);
        pending.catch(() => {});
        inflight.push(pending);
        next = end;
      }
    };
    try {
      launch();
      while (inflight.length > 0) {
        const part = await inflight.shift()!;
        launch();
        yield lendChunk(part.bytes, part.lease);
      }
    } finally {
      controller.abort(new CdiError('CDI_ERR_ABORTED', ['range reader closed']));
      signal?.removeEventListener('abort', onAbort);
    }
  }
}
