import type { Server, Socket } from 'node:net';
import { headEnd, parseRequestHead, type RequestHead } from './request-head.ts';

/** A connection's first request head, read before Node's HTTP server sees the connection. */
export interface FirstRequest {
  head: RequestHead;
  socket: Socket;
  /** Bytes that came after the head in the same reads: the start of the body. */
  rest: Buffer;
}

/**
 * Takes the connection (true: the caller now owns the paused socket and must resume or end it),
 * or leaves it to the HTTP server (false: the socket is handed over untouched, head included).
 */
export type ClaimFirstRequest = (request: FirstRequest) => Promise<boolean>;

export interface FirstRequestOptions {
  /** A head larger than this is left to the HTTP server (which answers 431). */
  maxHeadBytes?: number;
  /** A connection whose first head is not complete by then gets 408 and is closed. */
  headTimeoutMs: number;
  /** Told of a claim that threw; the connection is then closed. */
  onError(err: unknown): void;
}

const DefaultMaxHeadBytes = 16 * 1024;

/**
 * Puts `claim` in front of an HTTP(S) server's connection handling: the first request head of
 * each connection is read here and offered to `claim`; whatever it does not take reaches the
 * server's own listeners as if nothing had read it (the bytes are put back with unshift). This
 * is how the upload proxy relays a body at socket level without Node's HTTP parser copying every
 * piece of it (docs/adr/0035). `event` is 'secureConnection' for TLS servers, 'connection' else.
 */
export function interceptFirstRequests(server: Server, event: 'connection' | 'secureConnection', claim: ClaimFirstRequest, opts: FirstRequestOptions): void {
  const httpListeners = server.listeners(event) as Array<(socket: Socket) => void>;
  server.removeAllListeners(event);
  const maxHeadBytes = opts.maxHeadBytes ?? DefaultMaxHeadBytes;
  const handOver = (socket: Socket, seen: Buffer): void => {
    if (seen.length > 0) socket.unshift(seen);
    for (const listener of httpListeners) listener.call(server, socket);
    socket.resume();
  };
  server.on(event, (socket: Socket) => {
    let seen: Buffer = Buffer.alloc(0);
    // Until the HTTP server or the claim has its own: a client that resets or goes away must not
    // leave an unhandled 'error' (EPIPE, ECONNRESET) behind.
    const onError = (): void => void socket.destroy();
    socket.on('error', onError);
    const timer = setTimeout(() => {
      socket.off('data', onData);
      socket.end('HTTP/1.1 408 Request Timeout\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    }, opts.headTimeoutMs);
    const stopWaiting = (): void => clearTimeout(timer);
    const onData = (chunk: Buffer): void => {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const end = headEnd(seen);
      if (end < 0 && seen.length <= maxHeadBytes) return;
      stopWaiting();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.pause();
      const head = end < 0 ? undefined : parseRequestHead(seen);
      if (!head) {
        socket.off('error', onError);
        return handOver(socket, seen);
      }
      claim({ head, socket, rest: seen.subarray(end) }).then(
        (taken) => {
          socket.off('error', onError);
          if (!taken) handOver(socket, seen);
        },
        (err: unknown) => {
          opts.onError(err);
          socket.destroy();
        },
      );
    };
    // A client that ends before its head is complete gets nothing: there is no request to answer.
    const onEnd = (): void => {
      stopWaiting();
      socket.destroy();
    };
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', stopWaiting);
  });
}
