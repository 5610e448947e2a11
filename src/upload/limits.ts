import type { Server } from 'node:net';

/**
 * What one client may hold of an upload endpoint. The proxy answers anyone on the network before
 * a token is checked, and an upload runs for hours (so there is no whole-request timeout): a
 * connection must send its request head within `headersTimeoutMs` (else 408 and closed, also an
 * idle keep-alive connection), and the server keeps at most `maxConnections` open at once.
 */
export interface ConnectionLimits {
  headersTimeoutMs: number;
  maxConnections: number;
}

export const defaultConnectionLimits: ConnectionLimits = { headersTimeoutMs: 30_000, maxConnections: 512 };

/** The body may pause this long while the server wants more before the upload is cut (the session then frees). */
export const defaultIdleBodyMs = 60_000;

/** Options for http(s).createServer: Node checks the head deadline every `connectionsCheckingInterval`. */
export function headTimeoutOptions(limits: ConnectionLimits): { requestTimeout: number; headersTimeout: number; connectionsCheckingInterval: number } {
  return {
    requestTimeout: 0,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(1_000, limits.headersTimeoutMs),
  };
}

export function limitConnections(server: Server, limits: ConnectionLimits): void {
  server.maxConnections = limits.maxConnections;
}
