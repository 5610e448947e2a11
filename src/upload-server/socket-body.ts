import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { asCdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import { parseChecksum } from '../format/checksum.ts';
import type { ConvertResult } from '../format/index.ts';
import { closingAnswer } from '../upload/closing-answer.ts';
import type { ClaimFirstRequest } from '../upload/first-request.ts';
import { UploadHeaders, uploadRoutes } from '../upload/paths.ts';
import { contentLength, singleHeader, type RequestHead } from '../upload/request-head.ts';
import { parseUploadRange } from './range.ts';
import type { UploadContentType, UploadSession } from './session.ts';

/** Exactly `length` bytes of a socket, starting with `rest`, as the body stream the session reads. */
class SocketBody extends Readable {
  readonly #socket: Socket;
  #remaining: number;

  constructor(socket: Socket, rest: Buffer, length: number) {
    super({ highWaterMark: 1024 * 1024 });
    this.#socket = socket;
    this.#remaining = length;
    const onData = (chunk: Buffer): void => {
      if (this.#remaining === 0) return;
      const piece = chunk.length > this.#remaining ? chunk.subarray(0, this.#remaining) : chunk;
      this.#remaining -= piece.length;
      const more = this.push(piece);
      if (this.#remaining === 0) {
        socket.off('data', onData);
        socket.pause();
        this.push(null);
      } else if (!more) socket.pause();
    };
    // 'end' too: Node's HTTP servers allow half-open connections, so a client's FIN alone closes nothing.
    const cutOff = (): void => {
      if (this.#remaining > 0 && !this.destroyed) this.destroy(new Error('the client closed the connection before the end of the body'));
    };
    socket.once('end', cutOff);
    socket.once('close', cutOff);
    if (rest.length > 0) onData(rest);
    if (this.#remaining > 0) socket.on('data', onData);
  }

  override _read(): void {
    if (this.#remaining > 0) this.#socket.resume();
  }
}

export interface SocketUploadOptions {
  session: UploadSession;
  contentType: UploadContentType;
  /** Required CN of a TLS client's certificate; connections that are not TLS come from the owner-only socket. */
  clientName?: string | undefined;
  logger: Logger;
  onComplete?: ((result: ConvertResult) => void) | undefined;
  drainGraceMs?: number;
}

const routes = new Map(uploadRoutes.filter((r) => r.kind === 'sync' || r.kind === 'async' || r.kind === 'archive').map((r) => [r.path, r]));
const leftToHttpServer = ['transfer-encoding', 'expect', 'upgrade'];

function headerRecord(head: RequestHead): IncomingHttpHeaders {
  return Object.fromEntries([...head.headers].map(([name, values]) => [name, values.join(', ')]));
}

function trustedClient(socket: Socket, clientName: string | undefined): boolean {
  const tls = socket as TLSSocket;
  if (!tls.encrypted) return true;
  const cn = tls.authorized ? tls.getPeerCertificate()?.subject?.CN : undefined;
  return cn !== undefined && (clientName === undefined || cn === clientName);
}

/**
 * The upload server's fast path (docs/adr/0035): a connection whose first request is a plain
 * octet-stream upload (POST, one Content-Length, no Expect or chunking, from the proxy's verified
 * certificate or the owner-only socket) feeds its body from the socket straight into the session,
 * without Node's HTTP parser copying every record. Anything else, and any request the session
 * would refuse before reading (bad checksum or range headers), goes to the fastify app.
 */
export function socketUploads(opts: SocketUploadOptions): ClaimFirstRequest {
  return async ({ head, socket, rest }) => {
    const route = routes.get(head.target);
    const length = contentLength(head);
    if (!route || head.method !== 'POST' || length === undefined || leftToHttpServer.some((n) => head.headers.has(n))) return false;
    if (!trustedClient(socket, opts.clientName)) return false;
    const headers = headerRecord(head);
    const checksum = singleHeader(head, UploadHeaders.checksum) || undefined;
    let range;
    try {
      if (checksum) parseChecksum(checksum);
      range = parseUploadRange(headers);
    } catch {
      return false;
    }
    const body = new SocketBody(socket, rest, length);
    // Failures reach the session through the body's end; these only keep a late one from being unhandled.
    body.on('error', () => undefined);
    socket.on('error', () => socket.destroy());
    const contentType = route.kind === 'archive' ? 'archive' : opts.contentType;
    opts.session
      .upload({ body, contentType, contentLength: range.contentLength, offset: range.offset, total: range.total, checksum, resumable: true })
      .then(
        (result) => socket.end(closingAnswer(200, {}), () => opts.onComplete?.(result)),
        (err: unknown) => fail(err),
      );
    const fail = (err: unknown): void => {
      const cdiErr = asCdiError(err);
      if (cdiErr.code === 'CDI_ERR_ABORTED' || socket.destroyed) {
        opts.logger.warn({ err: cdiErr.message, code: cdiErr.code }, 'upload request ended early');
        socket.destroy();
        return;
      }
      opts.logger.warn({ err: cdiErr.message, code: cdiErr.code, status: cdiErr.httpStatus }, 'upload request failed');
      const extra: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8' };
      if (cdiErr.code === 'CDI_ERR_UPLOAD_RESUME') Object.assign(extra, sessionHeaders(opts.session));
      socket.end(closingAnswer(cdiErr.httpStatus, extra, cdiErr.message));
      if (body.readableEnded) return;
      // Answered before the whole body came: read and drop the rest so the answer is not lost to a reset.
      const timer = setTimeout(() => socket.destroy(), opts.drainGraceMs ?? 10_000);
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
      body.on('data', () => undefined);
      body.once('error', () => undefined);
      body.resume();
    };
    return true;
  };
}

export function sessionHeaders(session: UploadSession): Record<string, string> {
  const headers: Record<string, string> = { [UploadHeaders.offset]: String(session.offset), [UploadHeaders.state]: session.phase };
  if (session.total !== undefined) headers[UploadHeaders.length] = String(session.total);
  return headers;
}
