import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import type { UploadFailureRecorder, UploadTargetResolver } from '../api/upload-target.ts';
import { verifyUploadToken } from '../api/upload-token.ts';
import { closingAnswer } from '../upload/closing-answer.ts';
import type { ClaimFirstRequest } from '../upload/first-request.ts';
import { proxyRoutes, uploadPath } from '../upload/paths.ts';
import { contentLength, singleHeader, type RequestHead } from '../upload/request-head.ts';
import { bearerPattern, endToEnd, noteUpstreamAnswer, requestHead, type UploadServerClients } from './forward.ts';
import { ResponseDecoder, type UpstreamResponse } from './http1-response.ts';

export interface UploadRelayOptions {
  publicKeyPem: string;
  resolver: UploadTargetResolver;
  clients: UploadServerClients;
  failures?: UploadFailureRecorder | undefined;
  logger: Logger;
  /** After an early answer, how long a client that keeps sending is read and dropped (as discardRestOfBody). */
  drainGraceMs?: number;
}

const routes = new Map(proxyRoutes.map((route) => [route.path, route]));
// Headers that send a request to the HTTP server's path instead: each needs an answer the relay does not give.
const leftToHttpServer = ['transfer-encoding', 'expect', 'origin', 'upgrade'];

/** The upload path and claims of a plain upload the relay can take; undefined leaves it to fastify. */
async function relayable(head: RequestHead, opts: UploadRelayOptions): Promise<{ namespace: string; name: string; path: string; url: string; length: number } | undefined> {
  const route = routes.get(head.target);
  if (!route || head.method !== 'POST') return undefined;
  const length = contentLength(head);
  if (length === undefined || length === 0 || leftToHttpServer.some((name) => head.headers.has(name))) return undefined;
  const match = bearerPattern.exec(singleHeader(head, 'authorization') ?? '');
  if (!match) return undefined;
  const claims = await verifyUploadToken(opts.publicKeyPem, match[1]!).catch(() => undefined);
  if (!claims) return undefined;
  const target = await opts.resolver.resolve(claims.namespace, claims.name);
  if (target.kind !== 'ready') return undefined;
  const path = uploadPath(route.version, target.contentType === 'archive' ? 'archive' : route.kind);
  return { namespace: claims.namespace, name: claims.name, path, url: target.url, length };
}

function responseBytes(response: UpstreamResponse): Buffer {
  return closingAnswer(response.statusCode, endToEnd(response.headers), response.body);
}

/**
 * The upload proxy's fast path (docs/adr/0035): a connection whose first request is a plain upload
 * (a POST with a Content-Length, a valid token, a ready upload server that accepts the
 * connection) has its body moved from the client's socket onto the upload server's at socket
 * level, with no HTTP parser in between; the server's short answer goes back with
 * `connection: close`, so a second request never passes unchecked. Everything else (refusals,
 * waits for a server that is not ready yet, chunked bodies, CORS, 100-continue) returns false and
 * is answered by the fastify app as before.
 */
export function uploadRelay(opts: UploadRelayOptions): ClaimFirstRequest {
  return async ({ head, socket, rest }) => {
    const upload = await relayable(head, opts);
    if (!upload) return false;
    const abort = new AbortController();
    const connected = await opts.clients.connect(upload.url, abort.signal).catch(() => undefined);
    if (!connected) return false;
    const headers = Object.fromEntries([...head.headers].map(([name, values]) => [name, values.length === 1 ? values[0]! : values]));
    opts.logger.info({ namespace: upload.namespace, name: upload.name, method: head.method, path: upload.path }, 'forwarding upload');
    connected.socket.write(requestHead(head.method, upload.path, connected.host, endToEnd(headers), false));
    relayBody(socket, connected.socket, rest, upload.length, opts, upload);
    return true;
  };
}

function relayBody(client: Socket, upstream: Duplex, rest: Buffer, length: number, opts: UploadRelayOptions, who: { namespace: string; name: string }): void {
  let remaining = length;
  let answered = false;
  let corked = false;
  const decoder = new ResponseDecoder('POST');
  // Writes of one event-loop turn go out as one TLS write: fewer records handed to the kernel one by one.
  const send = (chunk: Buffer): boolean => {
    if (!corked) {
      corked = true;
      upstream.cork();
      setImmediate(() => {
        corked = false;
        upstream.uncork();
      });
    }
    return upstream.write(chunk);
  };
  const onData = (chunk: Buffer): void => {
    if (answered || remaining === 0) return;
    const piece = chunk.length > remaining ? chunk.subarray(0, remaining) : chunk;
    remaining -= piece.length;
    if (!send(piece)) {
      client.pause();
      upstream.once('drain', () => client.resume());
    }
  };
  const answer = (response: Buffer, drain: boolean): void => {
    if (answered) return;
    answered = true;
    upstream.destroy();
    client.end(response);
    if (!drain || remaining === 0) return;
    // Answered before the whole body came (a refusal): read and drop the rest so the answer is not lost to a reset.
    const timer = setTimeout(() => client.destroy(), opts.drainGraceMs ?? 10_000);
    timer.unref();
    client.once('close', () => clearTimeout(timer));
    client.resume();
  };
  upstream.on('data', (chunk: Buffer) => {
    try {
      const response = decoder.push(chunk);
      if (!response) return;
      noteUpstreamAnswer(opts, who, response);
      answer(responseBytes(response), true);
    } catch (err) {
      fail(err);
    }
  });
  const fail = (err: unknown): void => {
    if (answered) return;
    opts.logger.warn({ namespace: who.namespace, name: who.name, err: String(err) }, 'upload relay failed');
    const forwardErr = err instanceof CdiError ? err : new CdiError('CDI_ERR_UPLOAD_FORWARD', ['the upload server closed the connection before it answered'], { cause: err });
    const body = Buffer.from(forwardErr.message);
    answer(responseBytes({ statusCode: forwardErr.httpStatus, headers: { 'content-type': 'text/plain; charset=utf-8' }, body }), true);
  };
  upstream.once('error', fail);
  upstream.once('close', () => fail(new CdiError('CDI_ERR_UPLOAD_FORWARD', ['the upload server closed the connection before it answered'])));
  // The client went away before the answer: the upload server must see a cut-off body, not an end.
  client.once('close', () => {
    if (answered) return;
    answered = true;
    upstream.destroy();
  });
  client.on('error', () => client.destroy());
  if (rest.length > 0) onData(rest);
  client.on('data', onData);
  client.resume();
}
