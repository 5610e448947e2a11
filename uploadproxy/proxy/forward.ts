import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Agent } from 'undici';
import { CdiError } from '../../src/api/errors.ts';

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

/** The mutual-TLS client the proxy uses for every upload server. */
export function uploadServerAgent(clientTls: { cert: string; key: string; ca: string }): Agent {
  return new Agent({
    connect: { cert: clientTls.cert, key: clientTls.key, ca: clientTls.ca, rejectUnauthorized: true },
    headersTimeout: DayMs,
    bodyTimeout: DayMs,
  });
}

/**
 * Streams the request to the upload server and its answer back. The request body flows through
 * undici with socket backpressure end to end and no size limit; if the client goes away the
 * upstream request is aborted, so the upload server sees a cut-off upload rather than an end.
 */
export async function forwardUpload(
  agent: Agent,
  request: FastifyRequest,
  reply: FastifyReply,
  upstream: { origin: string; path: string },
): Promise<void> {
  const abort = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) abort.abort(new Error('client connection closed'));
  });
  const method = request.method;
  const hasBody = method !== 'GET' && method !== 'HEAD';
  let response;
  try {
    response = await agent.request({
      origin: upstream.origin,
      path: upstream.path,
      method: method as 'POST',
      headers: endToEnd(request.headers),
      body: hasBody ? request.raw : null,
      signal: abort.signal,
    });
  } catch (err) {
    if (abort.signal.aborted) return;
    throw new CdiError('CDI_ERR_UPLOAD_FORWARD', [err instanceof Error ? err.message : String(err)], { cause: err });
  }
  reply.code(response.statusCode).headers(endToEnd(response.headers));
  await reply.send(response.body);
}
