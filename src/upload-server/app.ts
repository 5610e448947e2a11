import { chmod, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import fastifyMultipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { CdiError, asCdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import { parseChecksum } from '../format/checksum.ts';
import type { ConvertResult } from '../format/index.ts';
import { clientGone } from '../upload/client-gone.ts';
import { discardRestOfBody } from '../upload/early-answer.ts';
import { uploadHopCiphers } from '../upload/hop-tls.ts';
import { defaultConnectionLimits, defaultIdleBodyMs, headTimeoutOptions, limitConnections, type ConnectionLimits } from '../upload/limits.ts';
import { HealthzPath, UploadHeaders, uploadRoutes, type UploadPathKind } from '../upload/paths.ts';
import { withFormFile } from './form.ts';
import { UploadSession, type RunEngine, type UploadContentType } from './session.ts';
import { parseUploadRange } from './range.ts';
import { sessionHeaders, socketUploads } from './socket-body.ts';
import { interceptFirstRequests } from '../upload/first-request.ts';

export { UploadClientName } from '../api/annotations.ts';

// Not `import from 'node:http'`: an ES import of node:http loads Node's own fetch (docs/adr/0032).
const { createServer } = process.getBuiltinModule('node:http');

export interface UploadServerOptions {
  /** The content type of the volume (CONTENT_TYPE): what the plain upload paths carry. */
  contentType: UploadContentType;
  runEngine: RunEngine;
  logger: Logger;
  /** Server key and cert, and the CA that signs accepted client certificates (mTLS from the proxy). */
  tls?: { key: string; cert: string; clientCa: string };
  /** Required CN of the client certificate (CLIENT_NAME). */
  clientName?: string;
  /** How long an interrupted upload waits for its continuation. */
  resumeWindowMs?: number;
  /** A request body that sends nothing for this long is cut and the upload freed. */
  idleBodyMs?: number;
  limits?: ConnectionLimits;
  /** Run by cdi serve's node agent: volumes are files on the node's disk (see uploadFailure). */
  volumesOnNodeDisk?: boolean;
  /** Called after the success answer went out; the entry point then writes the termination message. */
  onComplete?: (result: ConvertResult) => void;
}

/** Multipart limits are explicit: the default `fileSize` is fastify's 1 MiB body limit. */
const multipartLimits = {
  fileSize: Number.MAX_SAFE_INTEGER,
  files: 16,
  fields: 64,
  fieldSize: 1024 * 1024,
  parts: 128,
  headerPairs: 256,
};

export interface UploadServer {
  app: FastifyInstance;
  session: UploadSession;
  /**
   * Embedded mode: also serve on a unix socket only this user can open (mode 0600, in the node
   * agent's private directory). Whoever can open it is trusted as the proxy is over mTLS.
   */
  serveLocal(socketPath: string): Promise<void>;
}

export function buildUploadServer(opts: UploadServerOptions): UploadServer {
  const logger = opts.logger;
  const session = new UploadSession({
    runEngine: opts.runEngine,
    resumeWindowMs: opts.resumeWindowMs ?? 10 * 60_000,
    idleBodyMs: opts.idleBodyMs ?? defaultIdleBodyMs,
    logger,
    volumesOnNodeDisk: opts.volumesOnNodeDisk ?? false,
  });
  const limits = opts.limits ?? defaultConnectionLimits;
  const app = (
    opts.tls
      ? Fastify({
          logger: false,
          https: {
            key: opts.tls.key,
            cert: opts.tls.cert,
            ca: opts.tls.clientCa,
            requestCert: true,
            rejectUnauthorized: false,
            ciphers: uploadHopCiphers,
            ...headTimeoutOptions(limits),
          },
        })
      : Fastify({ logger: false })
  ) as unknown as FastifyInstance;
  limitConnections(app.server, limits);
  const fastPath = socketUploads({ session, contentType: opts.contentType, clientName: opts.clientName, logger, onComplete: opts.onComplete });
  const fastPathOptions = { headTimeoutMs: limits.headersTimeoutMs, onError: (err: unknown) => logger.warn({ err: String(err) }, 'socket upload failed') };
  if (opts.tls) interceptFirstRequests(app.server, 'secureConnection', fastPath, fastPathOptions);

  app.removeAllContentTypeParsers();
  void app.register(fastifyMultipart, { limits: multipartLimits });
  // Every other body stays unread here: the handler streams request.raw into the engine.
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  app.get(HealthzPath, async () => 'OK');

  const localConnections = new WeakSet<Socket>();
  const localServers: Server[] = [];
  app.addHook('onClose', async () => {
    await Promise.all(localServers.map((server) => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })));
  });

  const checkClient = (request: FastifyRequest): void => {
    if (!opts.tls || localConnections.has(request.raw.socket)) return;
    const socket = request.raw.socket as TLSSocket;
    const cn = socket.authorized ? socket.getPeerCertificate()?.subject?.CN : undefined;
    if (!cn) throw new CdiError('CDI_ERR_UPLOAD_CLIENT', [String(socket.authorizationError ?? 'no verified client certificate')]);
    if (opts.clientName && cn !== opts.clientName) throw new CdiError('CDI_ERR_UPLOAD_CLIENT', [`CN ${String(cn)}`]);
  };

  for (const route of uploadRoutes) {
    app.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      url: route.path,
      handler: async (request, reply) => {
        try {
          checkClient(request);
          if (request.method === 'HEAD') return statusAnswer(reply, session);
          if (request.method !== 'POST') return reply.code(404).send();
          const result = await receive(request, route.kind, opts.contentType, session);
          reply.raw.once('finish', () => opts.onComplete?.(result));
          return reply.code(200).send();
        } catch (err) {
          return failureAnswer(request, reply, session, err, logger);
        }
      },
    });
  }
  const serveLocal = async (socketPath: string): Promise<void> => {
    await app.ready();
    // An upload may take hours: no request timeout, as fastify sets on its own server.
    const server = createServer(headTimeoutOptions(limits), (req, res) => app.routing(req, res));
    limitConnections(server, limits);
    server.on('connection', (socket: Socket) => localConnections.add(socket));
    interceptFirstRequests(server, 'connection', fastPath, fastPathOptions);
    await rm(socketPath, { force: true });
    const umask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(socketPath, () => resolve());
      });
    } finally {
      process.umask(umask);
    }
    await chmod(socketPath, 0o600);
    localServers.push(server);
  };
  return { app, session, serveLocal };
}

/** HEAD: CDI answers 200 on the async paths (virtctl's probe); every path also reports resume state. */
function statusAnswer(reply: FastifyReply, session: UploadSession): FastifyReply {
  statusHeaders(reply, session);
  return reply.code(200).send();
}

function statusHeaders(reply: FastifyReply, session: UploadSession): void {
  reply.headers(sessionHeaders(session));
}

async function receive(
  request: FastifyRequest,
  kind: UploadPathKind,
  volumeContentType: UploadContentType,
  session: UploadSession,
): Promise<ConvertResult> {
  const headers = request.headers;
  const checksumHeader = headers[UploadHeaders.checksum];
  const checksum = typeof checksumHeader === 'string' && checksumHeader !== '' ? checksumHeader : undefined;
  if (checksum) parseChecksum(checksum);
  const contentType: UploadContentType = kind === 'archive' ? 'archive' : volumeContentType;

  if (kind === 'form' || kind === 'form-async') {
    return withFormFile(request, multipartLimits, (file) =>
      session.upload({ body: file, contentType, contentLength: undefined, offset: undefined, total: undefined, checksum, resumable: false }),
    );
  }

  const range = parseUploadRange(headers);
  return session.upload({
    body: request.raw,
    contentType,
    contentLength: range.contentLength,
    offset: range.offset,
    total: range.total,
    checksum,
    resumable: true,
  });
}

function failureAnswer(request: FastifyRequest, reply: FastifyReply, session: UploadSession, err: unknown, logger: Logger): FastifyReply {
  const cdiErr = asCdiError(err);
  if (cdiErr.code === 'CDI_ERR_ABORTED' || clientGone(reply)) {
    logger.warn({ err: cdiErr.message, code: cdiErr.code }, 'upload request ended early');
    request.raw.socket?.destroy();
    return reply;
  }
  logger.warn({ err: cdiErr.message, code: cdiErr.code, status: cdiErr.httpStatus }, 'upload request failed');
  if (cdiErr.code === 'CDI_ERR_UPLOAD_RESUME') statusHeaders(reply, session);
  discardRestOfBody(request, reply);
  return reply.code(cdiErr.httpStatus).type('text/plain; charset=utf-8').send(cdiErr.message);
}
