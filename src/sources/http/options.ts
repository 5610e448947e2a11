import type { Logger } from '../../api/logger.ts';

/** Connection settings shared by every HTTP-based source (plain HTTP, S3, registries). */
export interface HttpOptions {
  /** Directory whose files are extra trusted CA certificates (CDI's certConfigMap). */
  certDir?: string;
  /** Directory of CA certificates for the proxy (CDI's trustedCAProxy). */
  proxyCertDir?: string;
  /** Skip TLS verification (CDI's INSECURE_TLS / insecureSkipVerify). */
  insecure?: boolean;
  /** Headers added to every request, in order (CDI's IMPORTER_EXTRA_HEADER_<n>). */
  extraHeaders?: ReadonlyArray<readonly [string, string]>;
  /** Basic auth re-applied on every request and redirect (CDI's accessKeyId / secretKey). */
  basicAuth?: { user: string; password: string };
  /** Cancel a request when no byte arrived for this long. Default 10 minutes, as CDI. */
  idleTimeoutMs?: number;
  /** Redirects followed before giving up. Default 10, as Go's client. */
  maxRedirects?: number;
  /** Parallel connections for large sequential reads of a server that honours Range. Default 4. */
  connections?: number;
  /** Bytes per parallel range request. Default 8 MiB. */
  chunkSize?: number;
  /** Sequential reads at least this long use several connections. Default 64 MiB. */
  parallelThreshold?: number;
  /** Consecutive failed attempts to resume a dropped body before giving up. Default 8. */
  resumeAttempts?: number;
  /** Proxy settings; default from http_proxy / https_proxy / no_proxy. */
  proxy?: { httpProxy?: string; httpsProxy?: string; noProxy?: string };
  logger?: Logger;
}

export const httpDefaults = {
  idleTimeoutMs: 10 * 60 * 1000,
  maxRedirects: 10,
  connections: 4,
  chunkSize: 8 << 20,
  parallelThreshold: 64 << 20,
  resumeAttempts: 8,
  userAgent: 'cdi-golang-importer',
} as const;
