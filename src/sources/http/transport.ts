import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import tls from 'node:tls';
import type { Dispatcher } from 'undici';
import { httpDefaults, type HttpOptions } from './options.ts';
import { Agent, EnvHttpProxyAgent } from './undici.ts';

/** Every regular file in `dir` as PEM text (CDI accepts any key names in the cert ConfigMap). */
export async function readCaDir(dir: string | undefined): Promise<string[]> {
  if (!dir) return [];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const pems: string[] = [];
  for (const entry of entries) {
    // ConfigMap mounts are symlinks (..data/<key>); skip the hidden bookkeeping entries.
    if (entry.name.startsWith('.') || entry.isDirectory()) continue;
    const text = await readFile(path.join(dir, entry.name), 'utf8').catch(() => '');
    if (text.includes('-----BEGIN CERTIFICATE-----')) pems.push(text);
  }
  return pems;
}

export function proxyFromEnv(options: HttpOptions): { httpProxy?: string; httpsProxy?: string; noProxy?: string } {
  const env = process.env;
  return options.proxy ?? {
    httpProxy: env.http_proxy ?? env.HTTP_PROXY,
    httpsProxy: env.https_proxy ?? env.HTTPS_PROXY,
    noProxy: env.no_proxy ?? env.NO_PROXY,
  };
}

/**
 * An undici dispatcher with CDI's TLS rules: the system pool plus the cert and proxy-cert
 * directories, TLS 1.2 at least, optional insecureSkipVerify, and the proxy env vars. Its body
 * and header timeouts are the idle watchdog.
 */
export async function tlsSettings(options: HttpOptions): Promise<tls.ConnectionOptions> {
  const extra = [...(await readCaDir(options.certDir)), ...(await readCaDir(options.proxyCertDir))];
  return {
    ...(extra.length > 0 ? { ca: [...tls.rootCertificates, ...extra] } : {}),
    rejectUnauthorized: !options.insecure,
    minVersion: 'TLSv1.2',
  };
}

export function createDispatcher(options: HttpOptions, tlsOptions: tls.ConnectionOptions): Dispatcher {
  const idle = options.idleTimeoutMs ?? httpDefaults.idleTimeoutMs;
  const base = {
    connect: tlsOptions,
    bodyTimeout: idle,
    headersTimeout: idle,
    connections: (options.connections ?? httpDefaults.connections) + 1,
    keepAliveTimeout: 4_000,
  };
  const proxy = proxyFromEnv(options);
  if (!proxy.httpProxy && !proxy.httpsProxy) return new Agent(base);
  return new EnvHttpProxyAgent({
    ...base,
    ...(proxy.httpProxy ? { httpProxy: proxy.httpProxy } : {}),
    ...(proxy.httpsProxy ? { httpsProxy: proxy.httpsProxy } : {}),
    ...(proxy.noProxy ? { noProxy: proxy.noProxy } : {}),
    requestTls: tlsOptions,
    proxyTls: tlsOptions,
  });
}
