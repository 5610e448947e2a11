import type { Server as TlsServer } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { CdiError, asCdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import { verifyUploadToken } from '../api/upload-token.ts';
import { clientGone } from '../upload/client-gone.ts';
import { discardRestOfBody } from '../upload/early-answer.ts';
import { defaultConnectionLimits, headTimeoutOptions, limitConnections, type ConnectionLimits } from '../upload/limits.ts';
import { HealthzPath, proxyRoutes, uploadPath, type UploadPathKind, type UploadVersion } from '../upload/paths.ts';
import { interceptFirstRequests, type ClaimFirstRequest } from '../upload/first-request.ts';
import { applyCors } from './cors.ts';
import { uploadRelay } from './relay.ts';
import { bearerPattern, forwardUpload, noteUpstreamAnswer, UploadServerClients } from './forward.ts';
import { waitForUploadTarget, type UploadTargetResolver } from './resolver.ts';
import type { UploadFailureRecorder } from '../api/upload-target.ts';
import { uploadServerCipherOptions } from '../upload/hop-tls.ts';

export interface UploadProxyOptions {
  /** The cdi-apiserver's token signing key, public half (APISERVER_PUBLIC_KEY). */
  publicKeyPem: string;
  /** Client certificate (CN client.upload-server.cdi.kubevirt.io) and the CA of the upload servers. */
  clientTls: { cert: string; key: string; ca: string };
  resolver: UploadTargetResolver;
  /** Told of every upload the upload server answered with a failure; without it such answers are only logged. */
  failures?: UploadFailureRecorder;
  /**
   * Embedded mode: the node agent's owner-only socket directory. Upload servers there are reached
   * through their unix socket; without it (a cluster) only https targets are used.
   */
  localSocketDir?: string;
  logger: Logger;
  /** The proxy's own serving certificate; without it the app speaks plain HTTP (inject() tests). */
  tls?: { cert: string; key: string };
  /** How long to wait for the upload server to become ready (CDI: 10 s, polled every second). */
  readyTimeoutMs?: number;
  readyPollMs?: number;
  /** When its own server is used (tls set): the head deadline and connection cap. */
  limits?: ConnectionLimits;
}

export function buildUploadProxy(opts: UploadProxyOptions): FastifyInstance {
  const limits = opts.limits ?? defaultConnectionLimits;
  const app = (
    opts.tls
      ? Fastify({ logger: false, https: { cert: opts.tls.cert, key: opts.tls.key, ...uploadServerCipherOptions, ...headTimeoutOptions(limits) } })
      : Fastify({ logger: false })
  ) as unknown as FastifyInstance;
  limitConnections(app.server, limits);
  const clients = new UploadServerClients(opts.clientTls, opts.localSocketDir);
  const logger = opts.logger;

  // Bodies are never parsed here: they stream through to the upload server.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  app.addHook('onRequest', async (request, reply) => {
    if (applyCors(request, reply)) return reply;
    return undefined;
  });

  app.get(HealthzPath, async () => 'OK');

  const handle = async (request: FastifyRequest, reply: FastifyReply, version: UploadVersion, kind: UploadPathKind): Promise<void> => {
    const match = bearerPattern.exec(request.headers.authorization ?? '');
    if (!match) throw new CdiError('CDI_ERR_TOKEN_MISSING');
    const claims = await verifyUploadToken(opts.publicKeyPem, match[1]!);
    const target = await waitForUploadTarget(opts.resolver, claims.namespace, claims.name, {
      timeoutMs: opts.readyTimeoutMs ?? 10_000,
      pollMs: opts.readyPollMs ?? 1_000,
    });
    // Archive volumes are always written by the server's archive handler (CDI rewrites every path).
    const path = uploadPath(version, target.contentType === 'archive' ? 'archive' : kind);
    logger.info({ namespace: claims.namespace, name: claims.name, method: request.method, path }, 'forwarding upload');
    // A probe's connection is not reused: the client's upload then opens a new one, which the relay can take (relay.ts).
    if (request.method === 'HEAD' || request.method === 'GET') reply.header('connection', 'close');
    const answer = await forwardUpload(clients, request, reply, { url: target.url, path });
    if (answer) noteUpstreamAnswer(opts, claims, answer);
  };

  for (const route of proxyRoutes) {
    app.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
      url: route.path,
      handler: async (request, reply) => {
        try {
          await handle(request, reply, route.version, route.kind);
          return reply;
        } catch (err) {
          const cdiErr = asCdiError(err);
          const cause = cdiErr.cause === undefined ? {} : { cause: String(cdiErr.cause) };
          logger.warn({ code: cdiErr.code, err: cdiErr.message, ...cause, status: cdiErr.httpStatus }, 'upload request refused');
          if (reply.sent || clientGone(reply)) return reply;
          discardRestOfBody(request, reply);
          return reply.code(cdiErr.httpStatus).type('text/plain; charset=utf-8').send(cdiErr.message);
        }
      },
    });
  }
  return app;
}

export interface StartUploadProxyOptions extends UploadProxyOptions {
  host: string;
  port: number;
  tls: { cert: string; key: string };
}

/** The socket-level fast path for plain uploads (relay.ts), with the same material and resolver as the app. */
export function buildUploadRelay(opts: UploadProxyOptions): ClaimFirstRequest {
  return uploadRelay({
    publicKeyPem: opts.publicKeyPem,
    resolver: opts.resolver,
    clients: new UploadServerClients(opts.clientTls, opts.localSocketDir),
    failures: opts.failures,
    logger: opts.logger,
  });
}

/** Puts `claim()`, the relay of the moment, in front of the proxy's HTTPS server. */
export function relayUploads(server: TlsServer, claim: () => ClaimFirstRequest, limits: ConnectionLimits, logger: Logger): void {
  interceptFirstRequests(server, 'secureConnection', (request) => claim()(request), {
    headTimeoutMs: limits.headersTimeoutMs,
    onError: (err) => logger.warn({ err: String(err) }, 'upload relay failed'),
  });
}

export async function startUploadProxy(opts: StartUploadProxyOptions): Promise<{ url: string; close(): Promise<void> }> {
  const app = buildUploadProxy(opts);
  const relay = buildUploadRelay(opts);
  relayUploads(app.server as unknown as TlsServer, () => relay, opts.limits ?? defaultConnectionLimits, opts.logger);
  await app.listen({ host: opts.host, port: opts.port });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return { url: `https://${host}:${port}`, close: () => app.close() };
}
