import { watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { Logger } from '../../api/logger.ts';
import { defaultConnectionLimits, headTimeoutOptions, limitConnections, type ConnectionLimits } from '../../upload/limits.ts';
import { buildUploadProxy, buildUploadRelay, relayUploads } from '../../upload-proxy/app.ts';
import type { ClaimFirstRequest } from '../../upload/first-request.ts';
import type { UploadTargetResolver } from '../../upload-proxy/resolver.ts';
import type { UploadFailureRecorder } from '../../api/upload-target.ts';
import { uploadServerCipherOptions } from '../../upload/hop-tls.ts';
import { readTlsMaterial, tlsFingerprint, watchMountedFiles, watchTlsDirectory, type CertWatcher, type TlsMaterial } from '../pki/reload.ts';

/**
 * The upload proxy app (src/upload-proxy/app.ts) behind an HTTPS server this module owns, so
 * that every certificate it uses rotates without a restart: the serving certificate through
 * setSecureContext, and the client certificate and upload-server CA bundle (which the upload
 * app captures when it is built) by building a fresh app and routing new requests to it; uploads
 * the previous one forwarded finish on the connections they already have.
 */

export interface ClusterUploadProxyOptions {
  host: string;
  port: number;
  /** Mounted Secret cdi-uploadproxy-server-cert (tls.crt, tls.key). */
  servingDir: string;
  /** Mounted Secret cdi-uploadserver-client-cert (tls.crt, tls.key). */
  clientDir: string;
  /** Mounted ConfigMap cdi-uploadserver-signer-bundle (ca-bundle.crt). */
  serverCaDir: string;
  publicKeyPem: string;
  resolver: UploadTargetResolver;
  failures?: UploadFailureRecorder;
  /** Embedded mode: upload servers' sockets are accepted in this directory (ADR 0018). */
  localSocketDir?: string;
  logger: Logger;
  debounceMs?: number;
  limits?: ConnectionLimits;
}

export interface ClusterUploadProxy {
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

async function readClientTls(opts: ClusterUploadProxyOptions): Promise<Required<TlsMaterial>> {
  const [client, ca] = await Promise.all([readTlsMaterial({ dir: opts.clientDir }), readFile(join(opts.serverCaDir, 'ca-bundle.crt'), 'utf8')]);
  return { cert: client.cert, key: client.key, ca };
}

const isMissingFile = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === 'ENOENT';

/**
 * The client material, waiting while its directories exist but its files do not yet: `cdi serve`
 * starts this process beside the controller that issues them (ADR 0030). A missing directory (a
 * mount that is not there) stays an error.
 */
async function awaitClientTls(opts: ClusterUploadProxyOptions, log: Logger): Promise<Required<TlsMaterial>> {
  try {
    return await readClientTls(opts);
  } catch (err) {
    const dirsThere = await Promise.all([opts.clientDir, opts.serverCaDir].map((d) => stat(d).then((st) => st.isDirectory(), () => false)));
    if (!isMissingFile(err) || !dirsThere.every(Boolean)) throw err;
  }
  log.info({ dirs: [opts.clientDir, opts.serverCaDir] }, 'waiting for the upload client certificate and server CA');
  return await new Promise<Required<TlsMaterial>>((resolve, reject) => {
    let done = false;
    // Until the whole set is there and the pair matches; each write's event tries again.
    const check = async () => {
      const material = await readClientTls(opts).catch(() => undefined);
      if (!material || done) return;
      try {
        createSecureContext(material);
      } catch {
        return;
      }
      finish(() => resolve(material));
    };
    const watchers = [opts.clientDir, opts.serverCaDir].map((dir) => watch(dir, () => void check()));
    const finish = (settle: () => void) => {
      done = true;
      for (const w of watchers) w.close();
      settle();
    };
    for (const w of watchers) w.on('error', (err) => finish(() => reject(err)));
    void check();
  });
}

export async function startClusterUploadProxy(opts: ClusterUploadProxyOptions): Promise<ClusterUploadProxy> {
  const log = opts.logger.child({ component: 'uploadproxy' });
  const build = async (clientTls: Required<TlsMaterial>): Promise<{ app: FastifyInstance; relay: ClaimFirstRequest }> => {
    const proxyOptions = {
      publicKeyPem: opts.publicKeyPem,
      clientTls,
      resolver: opts.resolver,
      ...(opts.failures ? { failures: opts.failures } : {}),
      ...(opts.localSocketDir ? { localSocketDir: opts.localSocketDir } : {}),
      logger: opts.logger,
    };
    const app = buildUploadProxy(proxyOptions);
    await app.ready();
    return { app, relay: buildUploadRelay(proxyOptions) };
  };
  let current = await build(await awaitClientTls(opts, log));
  const serving = await readTlsMaterial({ dir: opts.servingDir });
  // fastify's own server defaults (no request timeout: uploads run for hours; 72 s keep-alive), with a head deadline
  const limits = opts.limits ?? defaultConnectionLimits;
  const server = createServer({ cert: serving.cert, key: serving.key, ...uploadServerCipherOptions, keepAliveTimeout: 72_000, ...headTimeoutOptions(limits) }, (req, res) => current.app.routing(req, res));
  limitConnections(server, limits);
  relayUploads(server, () => current.relay, limits, opts.logger);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const debounce = opts.debounceMs !== undefined ? { debounceMs: opts.debounceMs } : {};
  const watchers: CertWatcher[] = [
    watchTlsDirectory(server, { dir: opts.servingDir, logger: log, contextOptions: uploadServerCipherOptions, ...debounce }),
    watchMountedFiles<Required<TlsMaterial>>({
      dirs: [opts.clientDir, opts.serverCaDir],
      read: () => readClientTls(opts),
      check: (m) => void createSecureContext(m),
      fingerprint: tlsFingerprint,
      apply: async (m) => {
        const previous = current;
        current = await build(m);
        log.info({}, 'upload client certificate or server CA changed; new uploads use the new material');
        // Each forwarded upload owns its connection, so closing the old app cuts none of them.
        void previous.app.close().catch((err: unknown) => log.warn({ err }, 'closing the previous upload client failed'));
      },
      logger: log,
      ...debounce,
    }),
  ];
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `https://${host}:${port}`,
    port,
    server,
    async close() {
      for (const watcher of watchers) watcher.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await current.app.close();
    },
  };
}
