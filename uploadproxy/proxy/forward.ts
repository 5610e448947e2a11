import type { IncomingHttpHeaders } from 'node:http';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent } from 'undici';
import { CdiError } from '../../src/api/errors.ts';
import { localSocketPath } from '../../src/api/upload-target.ts';
import { discardRestOfBody } from '../early-answer.ts';

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

function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !hopByHop.has(name.toLowerCase())) out[name] = value;
  }
  return out;
}

// CDI gives the upload client a 24 h timeout; an upload may legitimately take hours.
const DayMs = 24 * 60 * 60 * 1000;

/**
 * How the proxy reaches upload servers: one mutual-TLS client for every https server, and in
 * embedded mode a client per request for a server's owner-only unix socket (no second TLS
 * session between two processes of one user on one machine, ADR 0018).
 */
export class UploadServerClients {
  readonly #tls: Agent;
  readonly #socketDir: string | undefined;

  constructor(clientTls: { cert: string; key: string; ca: string }, localSocketDir?: string) {
    this.#socketDir = localSocketDir;
    this.#tls = new Agent({
      connect: { cert: clientTls.cert, key: clientTls.key, ca: clientTls.ca, rejectUnauthorized: true },
      headersTimeout: DayMs,
      bodyTimeout: DayMs,
    });
  }

  /** The client for a target URL; `release` after the request's answer has been received. */
  for(url: string): { agent: Agent; origin: string; release(): void } {
    const socketPath = localSocketPath(url);
    if (socketPath === undefined) return { agent: this.#tls, origin: new URL(url).origin, release() {} };
    // A socket is trusted like an mTLS peer, so only the node agent's own directory is accepted:
    // a pod annotation must not be able to aim users' uploads at any other socket.
    if (this.#socketDir === undefined || path.dirname(socketPath) !== this.#socketDir) {
      throw new CdiError('CDI_ERR_UPLOAD_FORWARD', [`upload server socket ${socketPath} is not in the node agent's socket directory`]);
    }
    const agent = new Agent({ connect: { socketPath }, headersTimeout: DayMs, bodyTimeout: DayMs });
    // close() lets the request in flight finish, body included, then frees the connection.
    return { agent, origin: 'http://localhost', release: () => void agent.close() };
  }

  close(): Promise<void> {
    return this.#tls.close();
  }
}

/**
 * Streams the request to the upload server and its answer back. The request body flows through
 * undici with socket backpressure end to end and no size limit; if the client goes away the
 * upstream request is aborted, so the upload server sees a cut-off upload rather than an end.
 */
export async function forwardUpload(
  clients: UploadServerClients,
  request: FastifyRequest,
  reply: FastifyReply,
  upstream: { url: string; path: string },
): Promise<void> {
  const { agent, origin, release } = clients.for(upstream.url);
  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort.abort(new Error('client connection closed'));
  });
  const method = request.method;
  // An iterator, not the stream: when the server answers early undici ends the body it was
  // given, and the request itself must stay readable so its rest can be drained.
  const body = method !== 'GET' && method !== 'HEAD' ? request.raw.iterator({ destroyOnReturn: false }) : null;
  let response;
  try {
    response = await agent.request({
      origin,
      path: upstream.path,
      method: method as 'POST',
      headers: endToEnd(request.headers),
      // undici streams any async iterable body (writeIterable); its types list only Readable.
      body: body as unknown as Readable | null,
      signal: abort.signal,
    });
  } catch (err) {
    if (abort.signal.aborted) return;
    throw new CdiError('CDI_ERR_UPLOAD_FORWARD', [err instanceof Error ? err.message : String(err)], { cause: err });
  } finally {
    release();
  }
  // The server may answer before it read the whole body (too large, busy, done): undici stops
  // asking for it, so the iterator is ended here and the rest drained once the answer is out, or
  // the paused client connection would linger with its unread bytes.
  if (body && !request.raw.complete) void body.return?.();
  discardRestOfBody(request, reply);
  reply.code(response.statusCode).headers(endToEnd(response.headers));
  await reply.send(response.body);
}
