import { setTimeout as sleep } from 'node:timers/promises';
import type tls from 'node:tls';
import type { Dispatcher } from 'undici';
import { CdiError, isCdiError } from '../../api/errors.ts';
import { silentLogger, type Logger } from '../../api/logger.ts';
import { httpDefaults, type HttpOptions } from './options.ts';
import type { DirectTarget } from './socket-range.ts';
import { createDispatcher, proxyFromEnv, tlsSettings } from './transport.ts';

// Not `import from 'node:http'`: an ES import of node:http loads Node's own fetch (docs/adr/0032).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Dispatcher.ResponseData['body'];
  /** The URL that answered, after redirects. */
  readonly url: URL;
}

/** Adds per-request authorization (S3 SigV4 signs each request, including redirects). */
export type RequestSigner = (method: string, url: URL, headers: Record<string, string>) => void;

const redirectCodes = new Set([301, 302, 303, 307, 308]);

export function header(res: Pick<HttpResponse, 'headers'>, name: string): string | undefined {
  const value = res.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Drops a body we will not read, without an unhandled 'error' event from the abort. */
export function discard(body: HttpResponse['body']): void {
  if (body.destroyed) return;
  body.on('error', () => {});
  body.destroy();
}

export function statusError(statusCode: number): CdiError {
  return new CdiError('CDI_ERR_HTTP_STATUS', [statusCode, `${statusCode} ${STATUS_CODES[statusCode] ?? ''}`.trim()]);
}

/** Strips user:password from a URL for logs and messages. */
export function redact(url: URL | string): string {
  const u = new URL(url);
  u.username = '';
  u.password = '';
  return u.toString();
}

/** Maps undici and socket failures to coded errors; abort reasons pass through untouched. */
export function requestError(err: unknown, url: URL | string, idleMs: number, signal?: AbortSignal): unknown {
  if (signal?.aborted) return signal.reason ?? err;
  if (isCdiError(err)) return err;
  const code = (err as { code?: string }).code;
  if (code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT') {
    return new CdiError('CDI_ERR_HTTP_IDLE', [redact(url), Math.round(idleMs / 1000)], { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CdiError('CDI_ERR_HTTP_REQUEST', [`${redact(url)}: ${code ? `${code} ` : ''}${message}`], { cause: err });
}

/** True for failures worth a retry from the last byte: the connection dropped, not the watchdog. */
export function isResumable(err: unknown): boolean {
  if (!isCdiError(err, 'CDI_ERR_HTTP_REQUEST')) return false;
  const code = (err.cause as { code?: string } | undefined)?.code;
  return code !== undefined && [
    'UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
    'UND_ERR_CLOSED', 'ECONNABORTED', 'ETIMEDOUT',
  ].includes(code);
}

/** Waits before the n-th attempt to resume a dropped body: 100 ms, doubling, at most 2 s. */
export function resumeBackoff(attempt: number, signal?: AbortSignal): Promise<void> {
  return sleep(Math.min(2000, 50 * 2 ** attempt), undefined, { signal });
}

/**
 * One HTTP endpoint's client: CDI's headers, basic auth re-applied on redirects, bounded
 * redirects, coded errors. Bodies are undici streams with real backpressure.
 */
export class HttpClient {
  readonly options: HttpOptions;
  readonly logger: Logger;
  readonly idleMs: number;
  private readonly dispatcher: Dispatcher;
  private readonly signer: RequestSigner | undefined;
  private readonly tls: tls.ConnectionOptions;
  private readonly proxied: boolean;

  private constructor(tlsOptions: tls.ConnectionOptions, options: HttpOptions, signer?: RequestSigner) {
    this.tls = tlsOptions;
    this.dispatcher = createDispatcher(options, tlsOptions);
    const proxy = proxyFromEnv(options);
    this.proxied = Boolean(proxy.httpProxy || proxy.httpsProxy);
    this.options = options;
    this.signer = signer;
    this.logger = options.logger ?? silentLogger;
    this.idleMs = options.idleTimeoutMs ?? httpDefaults.idleTimeoutMs;
  }

  static async create(options: HttpOptions, signer?: RequestSigner): Promise<HttpClient> {
    return new HttpClient(await tlsSettings(options), options, signer);
  }

  /**
   * What a bulk range read needs to open its own socket (see socket-range.ts), or undefined
   * when a proxy is configured: those requests stay on undici.
   */
  direct(url: URL, headers: Record<string, string>): DirectTarget | undefined {
    if (this.proxied || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
    return { url, headers: this.headersFor('GET', url, headers), tls: this.tls, idleMs: this.idleMs };
  }

  private headersFor(method: string, url: URL, extra: Record<string, string>): Record<string, string> {
    const headers: Record<string, string> = { 'user-agent': httpDefaults.userAgent };
    for (const [k, v] of this.options.extraHeaders ?? []) headers[k.toLowerCase()] = v;
    const auth = this.options.basicAuth;
    if (auth) headers.authorization = `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`;
    Object.assign(headers, extra);
    this.signer?.(method, url, headers);
    return headers;
  }

  /** Sends a request and follows redirects; the caller checks the status. */
  async send(method: 'GET' | 'HEAD', url: URL | string, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<HttpResponse> {
    let extra = headers;
    let current = new URL(url);
    const max = this.options.maxRedirects ?? httpDefaults.maxRedirects;
    for (let hops = 0; ; hops++) {
      let res: Dispatcher.ResponseData;
      try {
        res = await this.dispatcher.request({
          origin: current.origin, path: `${current.pathname}${current.search}`, method, headers: this.headersFor(method, current, extra), signal,
        });
      } catch (err) {
        throw requestError(err, current, this.idleMs, signal);
      }
      const location = res.headers.location;
      if (redirectCodes.has(res.statusCode) && typeof location === 'string') {
        discard(res.body);
        if (hops >= max) throw new CdiError('CDI_ERR_HTTP_REDIRECTS', [max]);
        const next = new URL(location, current);
        // Credentials passed per request (registry tokens) never follow a redirect to another origin.
        if (next.origin !== current.origin && extra.authorization !== undefined) {
          extra = Object.fromEntries(Object.entries(extra).filter(([k]) => k !== 'authorization'));
        }
        current = next;
        this.logger.debug({ url: redact(current) }, 'following redirect');
        continue;
      }
      return { statusCode: res.statusCode, headers: res.headers, body: res.body, url: current };
    }
  }

  /** Ends every connection, aborting requests still in flight (a paused body must not keep us waiting). */
  async close(): Promise<void> {
    await this.dispatcher.destroy().catch(() => {});
  }
}
