import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { Transform, type Duplex } from 'node:stream';
import tls from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import type { UploadFailureRecorder } from '../api/upload-target.ts';
import { localSocketPath } from '../api/upload-target.ts';
import { discardRestOfBody } from '../upload/early-answer.ts';
import { uploadHopCiphers } from '../upload/hop-tls.ts';
import { ResponseDecoder, type UpstreamResponse } from './http1-response.ts';

/** Headers that describe one hop, not the request; `expect` is answered by this hop (100-continue). */
const hopByHop = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
]);

export function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

const ConnectTimeoutMs = 10_000;

// CDI's pattern (pkg/uploadproxy), case-insensitive.
export const bearerPattern = /^Bearer\s+([A-Za-z0-9\-._~+/]+)$/i;

/** A failure worth telling the volume's owner: not 503 (busy: another upload is running). */
function isUploadFailure(status: number): boolean {
  return status >= 400 && status !== 503;
}

/** Logs an upload server's failure answer and tells the volume's owner through `failures`. */
export function noteUpstreamAnswer(
  opts: { logger: Logger; failures?: UploadFailureRecorder | undefined },
  claims: { namespace: string; name: string },
  answer: UpstreamResponse,
): void {
  if (!isUploadFailure(answer.statusCode)) return;
  const message = answer.body.toString('utf8').trim() || `upload server answered ${answer.statusCode}`;
  opts.logger.warn({ namespace: claims.namespace, name: claims.name, status: answer.statusCode, err: message }, 'upload failed');
  opts.failures?.uploadFailed(claims.namespace, claims.name, message).catch((err: unknown) => {
    opts.logger.warn({ namespace: claims.namespace, name: claims.name, err: String(err) }, 'recording the failed upload failed');
  });
}


/**
 * How much of the client's body may wait in the proxy for the upload server. curl, proxy and
 * server are three busy processes; on two cores one of them is always off the CPU, and with the
 * 16 KiB default the proxy stopped reading the client as soon as the server was descheduled.
 * 2-8 MiB cut a 1 GiB qcow2 upload's time by 12-17% and the proxy's CPU with it (fewer wakeups),
 * over mTLS and the socket alike (docs/adr/0019).
 */
export const UpstreamBufferBytes = 4 * 1024 * 1024;

/**
 * The client's answer for a failed hop. Node's connect errors name the socket path, and paths under
 * the data dir are nobody's business outside it: a system error is told by its code alone (the
 * proxy's log keeps the whole error).
 */
function forwardError(err: unknown): CdiError {
  if (err instanceof CdiError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' ? `cannot reach the upload server (${code})` : err instanceof Error ? err.message : String(err);
  return new CdiError('CDI_ERR_UPLOAD_FORWARD', [reason], { cause: err });
}

/**
 * How the proxy reaches upload servers: mutual TLS to an https server, and in embedded mode the
 * server's owner-only unix socket (no second TLS session between two processes of one user on
 * one machine, ADR 0018). One connection per request: an upload is one long request.
 */
export class UploadServerClients {
  readonly #clientTls: { cert: string; key: string; ca: string };
  readonly #socketDir: string | undefined;

  constructor(clientTls: { cert: string; key: string; ca: string }, localSocketDir?: string) {
    this.#clientTls = clientTls;
    this.#socketDir = localSocketDir;
  }

  /** A connected (for https: handshaken and verified) socket to the upload server at `url`. */
  async connect(url: string, signal: AbortSignal): Promise<{ socket: Duplex; host: string }> {
    const socketPath = localSocketPath(url);
    let socket: net.Socket;
    let host: string;
    let ready: string;
    if (socketPath !== undefined) {
      // A socket is trusted like an mTLS peer, so only the node agent's own directory is accepted:
      // a pod annotation must not be able to aim users' uploads at any other socket.
      // The agent gives each pod its own directory there: <dir>/<pod uid>/<socket>.
      if (this.#socketDir === undefined || path.dirname(path.dirname(socketPath)) !== this.#socketDir || path.normalize(socketPath) !== socketPath) {
        throw new CdiError('CDI_ERR_UPLOAD_FORWARD', ["the upload server's socket is not in the node agent's socket directory"], { cause: socketPath });
      }
      // highWaterMark is a Duplex option net.Socket passes on; @types/node does not list it.
      socket = net.connect({ path: socketPath, highWaterMark: UpstreamBufferBytes } as net.NetConnectOpts);
      host = 'localhost';
      ready = 'connect';
    } else {
      const target = new URL(url);
      if (target.protocol !== 'https:') throw new CdiError('CDI_ERR_UPLOAD_FORWARD', [`upload server URL ${url} is not https`]);
      const hostname = target.hostname.replace(/^\[(.*)\]$/, '$1');
      socket = tls.connect({
        host: hostname,
        port: Number(target.port || 443),
        ...(net.isIP(hostname) ? {} : { servername: hostname }),
        ...this.#clientTls,
        ciphers: uploadHopCiphers,
        rejectUnauthorized: true,
        highWaterMark: UpstreamBufferBytes,
      } as tls.ConnectionOptions);
      host = target.host;
      ready = 'secureConnect';
    }
    try {
      await once(socket, ready, { signal: AbortSignal.any([signal, AbortSignal.timeout(ConnectTimeoutMs)]) });
    } catch (err) {
      socket.destroy();
      throw err;
    }
    return { socket, host };
  }
}

/**
 * The request head for the upload server. Keep-alive (no `connection: close`): a server answering
 * early goes on draining the body instead of closing under the bytes still being written; the
 * proxy closes the connection once it has the answer.
 */
export function requestHead(method: string, target: string, host: string, headers: Record<string, string | string[]>, chunked: boolean): string {
  const lines = [`${method} ${target} HTTP/1.1`, `host: ${host}`];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      // Node's parser already refuses these; the head is written by hand, so it is checked again.
      if (/[\r\n]/.test(name) || /[\r\n]/.test(one)) throw new CdiError('CDI_ERR_UPLOAD_FORWARD', [`header ${JSON.stringify(name)} holds a line break`]);
      lines.push(`${name}: ${one}`);
    }
  }
  if (chunked) lines.push('transfer-encoding: chunked');
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Re-frames a body that came chunked (its length unknown) as chunks for the next hop. */
function chunkEncoder(): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (chunk.length > 0) {
        this.push(`${chunk.length.toString(16)}\r\n`);
        this.push(chunk);
        this.push('\r\n');
      }
      done();
    },
    flush(done) {
      this.push('0\r\n\r\n');
      done();
    },
  });
}

/**
 * One exchange with the upload server: the head written by hand, the body piped from the client's
 * request straight onto the socket (pipe's backpressure end to end, no size limit, no per-chunk
 * framing work for a Content-Length body), and the short answer read whole.
 */
async function exchange(socket: Duplex, host: string, request: FastifyRequest, target: string, signal: AbortSignal): Promise<UpstreamResponse> {
  const chunked = request.headers['transfer-encoding'] !== undefined;
  const hasBody = chunked || Number(request.headers['content-length'] ?? 0) > 0;
  const decoder = new ResponseDecoder(request.method);
  try {
    return await new Promise<UpstreamResponse>((resolve, reject) => {
      socket.on('data', (chunk: Buffer) => {
        try {
          const response = decoder.push(chunk);
          if (response) resolve(response);
        } catch (err) {
          reject(err);
        }
      });
      socket.once('end', () => {
        try {
          resolve(decoder.end());
        } catch (err) {
          reject(err);
        }
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new CdiError('CDI_ERR_UPLOAD_FORWARD', ['the upload server closed the connection before it answered'])));
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
      socket.write(requestHead(request.method, target, host, endToEnd(request.headers), chunked));
      if (hasBody) (chunked ? request.raw.pipe(chunkEncoder()) : request.raw).pipe(socket, { end: false });
    });
  } finally {
    request.raw.unpipe();
    socket.destroy();
  }
}

/**
 * Streams the request to the upload server and its answer back, and returns that answer (undefined
 * when the client went away first). If the client goes away the upstream connection is destroyed,
 * so the upload server sees a cut-off upload rather than an end.
 */
export async function forwardUpload(
  clients: UploadServerClients,
  request: FastifyRequest,
  reply: FastifyReply,
  upstream: { url: string; path: string },
): Promise<UpstreamResponse | undefined> {
  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort.abort(new Error('client connection closed'));
  });
  let response: UpstreamResponse;
  try {
    const { socket, host } = await clients.connect(upstream.url, abort.signal);
    response = await exchange(socket, host, request, upstream.path, abort.signal);
  } catch (err) {
    if (abort.signal.aborted) return undefined;
    throw forwardError(err);
  }
  // The server may answer before it read the whole body (too large, busy, done): the rest is
  // drained once the answer is out, or the paused client connection would linger unread.
  discardRestOfBody(request, reply);
  reply.code(response.statusCode).headers(endToEnd(response.headers));
  await reply.send(response.body);
  return response;
}
