import type { FastifyReply } from 'fastify';

/** The request stream is destroyed once read; only the socket tells whether the client is still there. */
export function clientGone(reply: FastifyReply): boolean {
  return reply.raw.destroyed || reply.raw.socket?.destroyed !== false;
}
