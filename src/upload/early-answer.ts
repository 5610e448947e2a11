import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * After answering an upload before its body was read (refused token, busy server, image too
 * large): closing the socket with unread bytes makes TCP send a reset, and a client still
 * sending may lose the answer. So the rest of the body is read and dropped once the answer is
 * out, as Go's server does; clients like curl stop sending when they see it. A client that
 * keeps sending anyway is cut off after `graceMs`.
 */
export function discardRestOfBody(request: FastifyRequest, reply: FastifyReply, graceMs = 10_000): void {
  const body = request.raw;
  if (body.complete || body.destroyed) return;
  reply.raw.once('finish', () => {
    if (body.complete || body.destroyed) return;
    const timer = setTimeout(() => body.socket?.destroy(), graceMs);
    timer.unref();
    body.once('end', () => clearTimeout(timer));
    body.once('close', () => clearTimeout(timer));
    body.resume();
  });
}

/** The client's connection is gone: nothing can be answered on it any more. */
export function clientGone(reply: FastifyReply): boolean {
  return reply.raw.destroyed || reply.raw.socket?.destroyed !== false;
}
