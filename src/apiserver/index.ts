import { mkdir } from 'node:fs/promises';
import { request as httpsRequest, createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from '../api/logger.ts';
import { ApiAuth } from './auth/index.ts';
import { loadOrCreateServiceAccountKeys } from './auth/serviceaccount-tokens.ts';
import { keepRenewed } from '../cluster/pki/serving-renewal.ts';
import { loadOrCreateCredentials, reissueServingCertificate } from './credentials.ts';
import { startEventExpiry } from './event-ttl.ts';
import { GarbageCollector } from './gc.ts';
import { renderKubeconfig, writeKubeconfig } from './kubeconfig.ts';
import { ObjectService } from './objects.ts';
import { createRouter } from './router.ts';
import { WebhookDispatcher } from './webhooks/dispatch.ts';
import { seedDefaults } from './seed.ts';
import { ObjectStore } from './store.ts';
import { setAsideUnreadableRows } from './stored-rows.ts';
import { validatorDeferringTo, type Validator } from './validate.ts';
import { WatchHub } from './watch-hub.ts';

/**
 * The embedded Kubernetes-compatible API server. Everything lives under `dataDir`:
 *   apiserver.db            the objects (SQLite, WAL)
 *   pki/                    CA, serving cert, bearer token, upload-token and ServiceAccount-token signing keys (0600)
 *   kubeconfig              written (0600) once the API answers
 *   pods/<ns>/<pod>/<container>.log   read by pods/log, written by the node agent
 */
export interface ApiServerHandle {
  url: string;
  caPem: string;
  token: string;
  kubeconfigPath: string;
  uploadSigningKey: { privatePem: string; publicPem: string };
  close(): Promise<void>;
}

export interface ApiServerOptions {
  dataDir: string;
  /** Bind address; 127.0.0.1 unless told otherwise. */
  host?: string;
  /** 0 or absent: an ephemeral port. */
  port?: number;
  logger: Logger;
  /** How many recent changes watches can resume from before they get 410 Expired. */
  watchWindow?: number;
  bookmarkIntervalMs?: number;
  /** Events older than this are deleted (kube-apiserver's --event-ttl); default one hour. */
  eventTtlSeconds?: number;
  validator?: Validator;
  /** Connection bounds; kube-apiserver's by default (see `DefaultTimeouts`). */
  timeouts?: Partial<ServerTimeouts>;
}

export interface ServerTimeouts {
  /** Until a request's headers are in (Go's ReadHeaderTimeout in kube-apiserver: 32 s). */
  headersMs: number;
  /** Until a whole request (headers and body) is in: --request-timeout, 60 s. Watches and log follows are long-running responses, not requests, and are not cut. */
  requestMs: number;
  /** An idle keep-alive connection is closed after this. */
  keepAliveMs: number;
}

export const DefaultTimeouts: ServerTimeouts = { headersMs: 32_000, requestMs: 60_000, keepAliveMs: 65_000 };

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** Asks the running server for /api with the credentials the kubeconfig will carry. */
function probe(url: string, caPem: string, token: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${url}/api`, { ca: caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`API self-check answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServerHandle> {
  const log = opts.logger.child({ component: 'apiserver' });
  const host = opts.host ?? '127.0.0.1';
  await mkdir(opts.dataDir, { recursive: true });
  const credentials = loadOrCreateCredentials(opts.dataDir, host);
  // Both keys are RSA, made on the thread pool: at the same time, not one after the other.
  const serviceAccountKeys = loadOrCreateServiceAccountKeys(opts.dataDir, credentials);
  serviceAccountKeys.catch(() => undefined);
  const creds = await credentials;
  const store = new ObjectStore(path.join(opts.dataDir, 'apiserver.db'));
  setAsideUnreadableRows(store, log);
  const hub = new WatchHub(store.currentRv, opts.watchWindow ?? 10_000, undefined, log);
  // CDI's own webhooks run in-process unless the same webhook is registered (bound once the dispatcher exists).
  let webhookRegistered: (name: string) => boolean = () => false;
  const service = new ObjectService(store, hub, opts.validator ?? validatorDeferringTo((name) => webhookRegistered(name)));
  seedDefaults(service);
  const auth = new ApiAuth(service, creds.token, await serviceAccountKeys, log);
  const webhooks = new WebhookDispatcher(service, log);
  webhookRegistered = (name) => webhooks.registered(name);
  const gc = new GarbageCollector(service, log);
  const stopEventExpiry = startEventExpiry(service, opts.eventTtlSeconds ?? 3600, log);

  let url = '';
  let ready = false;
  const timeouts = { ...DefaultTimeouts, ...opts.timeouts };
  const server: Server = createServer(
    {
      key: creds.keyPem,
      cert: creds.certPem,
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      keepAliveTimeout: timeouts.keepAliveMs,
      // How often the two timeouts above are enforced (Node's default, 30 s, would double them).
      connectionsCheckingInterval: Math.min(1000, timeouts.headersMs),
    },
    createRouter({
      service,
      auth,
      webhooks,
      dataDir: opts.dataDir,
      serverAddress: () => url.replace(/^https:\/\//, ''),
      uploadSigningKey: creds.uploadSigningKey.privatePem,
      bookmarkIntervalMs: opts.bookmarkIntervalMs ?? 60_000,
      logger: log,
      isReady: () => ready,
    }),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  url = `https://${urlHost(host)}:${port}`;
  // New connections get the renewed pair; open ones keep the certificate they shook hands with.
  const stopRenewal = keepRenewed(
    creds.certPem,
    async () => {
      const next = await reissueServingCertificate(opts.dataDir, creds.caPem, host);
      server.setSecureContext({ key: next.keyPem, cert: next.certPem });
      return next.certPem;
    },
    log,
    'API server',
  );

  const close = async (): Promise<void> => {
    ready = false;
    stopRenewal();
    stopEventExpiry();
    gc.close();
    auth.close();
    server.closeAllConnections();
    await webhooks.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    store.close();
  };

  try {
    await probe(url, creds.caPem, creds.token);
  } catch (err) {
    await close();
    throw err;
  }
  ready = true;
  const kubeconfigPath = path.join(opts.dataDir, 'kubeconfig');
  await writeKubeconfig(kubeconfigPath, renderKubeconfig(url, creds.caPem, creds.token));
  log.info({ url, kubeconfig: kubeconfigPath, resourceVersion: store.currentRv }, 'API server ready');
  return { url, caPem: creds.caPem, token: creds.token, kubeconfigPath, uploadSigningKey: creds.uploadSigningKey, close };
}
