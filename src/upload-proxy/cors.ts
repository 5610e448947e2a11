import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * CDI's upload proxy wraps its handler in rs/cors `AllowAll()`: any origin, the usual methods,
 * any requested header, no credentials. Preflights are answered here (204) without a token.
 * Returns true when the request was a preflight and has been answered.
 */
const allowedMethods = new Set(['HEAD', 'GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

export function applyCors(request: FastifyRequest, reply: FastifyReply): boolean {
  const origin = request.headers.origin;
  const requestedMethod = request.headers['access-control-request-method'];
  if (request.method === 'OPTIONS' && typeof requestedMethod === 'string') {
    reply.header('vary', 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers');
    if (origin === undefined || !allowedMethods.has(requestedMethod.toUpperCase())) {
      void reply.code(204).send();
      return true;
    }
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-allow-methods', requestedMethod.toUpperCase());
    const requestedHeaders = request.headers['access-control-request-headers'];
    if (typeof requestedHeaders === 'string' && requestedHeaders !== '') reply.header('access-control-allow-headers', requestedHeaders);
    void reply.code(204).send();
    return true;
  }
  if (origin !== undefined) {
    reply.header('vary', 'Origin');
    reply.header('access-control-allow-origin', '*');
  }
  return false;
}
