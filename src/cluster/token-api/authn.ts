import type { IncomingHttpHeaders } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { CoreV1Api } from '@kubernetes/client-node';
import { CdiError } from '../../api/errors.ts';

/**
 * Front-proxy ("request header") authentication, as every aggregated API server does it: the
 * kube-apiserver forwards the caller's identity in X-Remote-* headers and proves it is the
 * aggregator with a client certificate from `requestheader-client-ca-file`. Headers are
 * believed only on a connection whose client certificate verified against that CA and whose
 * common name is allowed.
 */

export interface RequestHeaderConfig {
  clientCaPem: string;
  /** Empty: any certificate from the CA is accepted (the kube-apiserver's own rule). */
  allowedNames: string[];
  usernameHeaders: string[];
  uidHeaders: string[];
  groupHeaders: string[];
  extraHeaderPrefixes: string[];
}

export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
  extra: Record<string, string[]>;
}

export const AuthenticationConfigMap = { namespace: 'kube-system', name: 'extension-apiserver-authentication' } as const;

const jsonList = (text: string | undefined, fallback: string[]): string[] => {
  if (!text) return fallback;
  const parsed: unknown = JSON.parse(text);
  return Array.isArray(parsed) ? parsed.map(String) : fallback;
};

/** Parses the data of kube-system/extension-apiserver-authentication. */
export function requestHeaderConfigFrom(data: Record<string, string>): RequestHeaderConfig {
  const clientCaPem = data['requestheader-client-ca-file'];
  if (!clientCaPem) throw new CdiError('CDI_ERR_TOKEN_API_UNAUTHENTICATED', ['the cluster publishes no requestheader-client-ca-file']);
  return {
    clientCaPem,
    allowedNames: jsonList(data['requestheader-allowed-names'], []),
    usernameHeaders: jsonList(data['requestheader-username-headers'], ['X-Remote-User']),
    uidHeaders: jsonList(data['requestheader-uid-headers'], []),
    groupHeaders: jsonList(data['requestheader-group-headers'], ['X-Remote-Group']),
    extraHeaderPrefixes: jsonList(data['requestheader-extra-headers-prefix'], ['X-Remote-Extra-']),
  };
}

export async function loadRequestHeaderConfig(core: Pick<CoreV1Api, 'readNamespacedConfigMap'>): Promise<RequestHeaderConfig> {
  const configMap = await core.readNamespacedConfigMap(AuthenticationConfigMap);
  return requestHeaderConfigFrom(configMap.data ?? {});
}

function headerValues(headers: IncomingHttpHeaders, name: string): string[] {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
}

export interface PeerIdentity {
  /** The client certificate verified against the request-header CA. */
  authorized: boolean;
  commonName?: string;
  error?: string;
}

export function peerOf(socket: TLSSocket | { authorized?: undefined }): PeerIdentity {
  if (!('getPeerCertificate' in socket)) return { authorized: false, error: 'not a TLS connection' };
  const cert = socket.getPeerCertificate();
  const cn = cert?.subject?.CN;
  const commonName = Array.isArray(cn) ? cn[0] : cn;
  const error = socket.authorizationError ? String(socket.authorizationError) : undefined;
  return { authorized: socket.authorized, ...(commonName ? { commonName } : {}), ...(error ? { error } : {}) };
}

export function userFromFrontProxy(headers: IncomingHttpHeaders, peer: PeerIdentity, config: RequestHeaderConfig): UserInfo {
  if (!peer.authorized) throw new CdiError('CDI_ERR_TOKEN_API_UNAUTHENTICATED', [peer.error ?? 'no verified client certificate']);
  if (config.allowedNames.length > 0 && !config.allowedNames.includes(peer.commonName ?? '')) {
    throw new CdiError('CDI_ERR_TOKEN_API_UNAUTHENTICATED', [`client certificate ${peer.commonName ?? '(no CN)'} is not an allowed front proxy`]);
  }
  const username = config.usernameHeaders.map((h) => headerValues(headers, h)[0]).find(Boolean);
  if (!username) throw new CdiError('CDI_ERR_TOKEN_API_UNAUTHENTICATED', ['no user name header']);
  const uid = config.uidHeaders.map((h) => headerValues(headers, h)[0]).find(Boolean);
  const groups = config.groupHeaders.flatMap((h) => headerValues(headers, h));
  const extra: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const prefix = config.extraHeaderPrefixes.find((p) => name.startsWith(p.toLowerCase()));
    if (!prefix || value === undefined) continue;
    const key = decodeURIComponent(name.slice(prefix.length)).toLowerCase();
    extra[key] = [...(extra[key] ?? []), ...headerValues(headers, name)];
  }
  return { username, ...(uid ? { uid } : {}), groups, extra };
}
