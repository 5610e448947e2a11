import { CdiError } from '../../api/errors.ts';
import type { ByteMeter } from '../meter.ts';
import { isResumable, redact, resumeBackoff, type HttpClient } from './client.ts';
import { httpDefaults } from './options.ts';
import { fetchRange, parseContentRange, type RangeResource } from './ranges.ts';
import { getRange, SocketRangeBody } from './socket-range.ts';

/** Skipped bytes land here (one per reader, allocated on the first skip). */
const SKIP_BUFFER = 1 << 20;

/**
 * The bytes [start, end) of a resource, read in order into the caller's buffers, resuming from
 * the last byte after a drop (Range + If-Range). The body comes over a socket of its own
 * (socket-range.ts) when the client allows it and the server answers a plain 206; anything
 * else (a proxy, a 200 to a resume, a 5xx, chunked bodies) goes through undici's `fetchRange`,
 * which knows every rule.
 */
export class RangeReader {
  /** Offset of the next byte `fill` hands out. */
  pos: number;
  private readonly end: number;
  private readonly client: HttpClient;
  private readonly resource: RangeResource;
  private readonly meter: ByteMeter;
  private readonly signal: AbortSignal | undefined;
  private body: SocketRangeBody | undefined;
  private fallback: AsyncIterator<Uint8Array> | undefined;
  private pending: Uint8Array | undefined;
  private failures = 0;
  private openedAt = 0;
  private scratch: Uint8Array | undefined;

  constructor(client: HttpClient, resource: RangeResource, start: number, end: number, meter: ByteMeter, signal?: AbortSignal) {
    this.client = client;
    this.resource = resource;
    this.pos = start;
    this.end = end;
    this.meter = meter;
    this.signal = signal;
  }

  /** Fills `out` from `at` to its end with the next bytes; throws CDI_ERR_TRUNCATED past `end`. */
  async fill(out: Uint8Array, at = 0): Promise<void> {
    if (this.pos + out.byteLength - at > this.end) throw new CdiError('CDI_ERR_TRUNCATED', [`read past ${this.end}`]);
    while (at < out.byteLength) {
      if (this.fallback) {
        at = await this.fillFallback(out, at);
        continue;
      }
      if (!this.body) {
        await this.open();
        continue;
      }
      const body = this.body;
      const before = body.delivered;
      try {
        const next = await body.fill(out, at);
        this.advance(next - at);
        at = next;
        if (at < out.byteLength && body.done) {
          this.body = undefined;
          await this.retry(new CdiError('CDI_ERR_HTTP_LENGTH', [redact(this.resource.url), body.delivered, this.end - this.openedAt]), true);
        }
      } catch (err) {
        const got = body.delivered - before;
        this.advance(got);
        at += got;
        body.close();
        this.body = undefined;
        await this.retry(err);
      }
    }
  }

  /** Reads and drops `length` bytes (a gap cheaper to read through than to ask for again). */
  async skip(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      this.scratch ??= new Uint8Array(SKIP_BUFFER);
      const n = Math.min(left, this.scratch.byteLength);
      await this.fill(this.scratch.subarray(0, n));
      left -= n;
    }
  }

  close(): void {
    this.body?.close();
    this.body = undefined;
    void this.fallback?.return?.().catch(() => {});
    this.fallback = undefined;
  }

  private advance(n: number): void {
    if (n <= 0) return;
    this.pos += n;
    this.meter.add(n);
    this.failures = 0;
  }

  private async open(): Promise<void> {
    const headers: Record<string, string> = { range: `bytes=${this.pos}-${this.end - 1}` };
    if (this.resource.validator) headers['if-range'] = this.resource.validator;
    const target = this.client.direct(this.resource.url, headers);
    if (!target) {
      this.fallback = fetchRange(this.client, this.resource, this.pos, this.end, this.meter, this.signal)[Symbol.asyncIterator]();
      return;
    }
    let answer;
    try {
      answer = await getRange(target, this.signal);
    } catch (err) {
      await this.retry(err);
      return;
    }
    if (!(answer instanceof SocketRangeBody)) {
      this.client.logger.debug({ status: answer.statusCode, offset: this.pos }, 'range answer is not a plain 206: reading it through undici');
      this.fallback = fetchRange(this.client, this.resource, this.pos, this.end, this.meter, this.signal)[Symbol.asyncIterator]();
      return;
    }
    const value = answer.head.headers['content-range'];
    const range = parseContentRange(value);
    if (!range || range.first !== this.pos || (range.size !== undefined && range.size !== this.resource.size)) {
      answer.close();
      throw new CdiError('CDI_ERR_HTTP_CHANGED', [this.pos, `unexpected Content-Range ${value ?? '(none)'}`]);
    }
    this.body = answer;
    this.openedAt = this.pos;
  }

  /** undici's chunks (already metered and resumed by fetchRange), copied into `out`. */
  private async fillFallback(out: Uint8Array, at: number): Promise<number> {
    let chunk = this.pending;
    this.pending = undefined;
    if (!chunk) {
      const next = await this.fallback!.next();
      if (next.done) throw new CdiError('CDI_ERR_TRUNCATED', [`the source ended at ${this.pos}`]);
      chunk = next.value;
    }
    const take = Math.min(chunk.byteLength, out.byteLength - at);
    out.set(take === chunk.byteLength ? chunk : chunk.subarray(0, take), at);
    if (take < chunk.byteLength) this.pending = chunk.subarray(take);
    this.pos += take;
    return at + take;
  }

  /** Waits before the next attempt, or throws when the failure is final or attempts ran out. */
  private async retry(err: unknown, transient = isResumable(err)): Promise<void> {
    const max = this.client.options.resumeAttempts ?? httpDefaults.resumeAttempts;
    if (this.signal?.aborted) throw this.signal.reason;
    if (!transient || ++this.failures > max) throw err;
    this.client.logger.warn({ url: redact(this.resource.url), offset: this.pos, attempt: this.failures, err: (err as Error).message }, 'connection lost, resuming');
    await resumeBackoff(this.failures, this.signal);
  }
}
