import { CdiError } from '../../api/errors.ts';
import { discard, type HttpClient } from '../http/client.ts';

export interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** Parses `Bearer realm="…",service="…",scope="…"` (RFC 6750 style quoted params). */
export function parseChallenge(value: string | undefined): Challenge | undefined {
  const m = /^\s*(\w+)\s*(.*)$/.exec(value ?? '');
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) params[p[1]!.toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme, params };
}

export interface Credentials {
  user: string;
  password: string;
}

export const basicHeader = (c: Credentials): string => `Basic ${Buffer.from(`${c.user}:${c.password}`).toString('base64')}`;

/**
 * Answers a challenge with an Authorization value: Basic credentials as they are, or a Bearer
 * token from the realm for `repository:<name>:pull` (anonymous, or with Basic credentials on
 * the token request only).
 */
export async function authorize(
  http: HttpClient, registry: string, challenge: Challenge, repository: string, credentials: Credentials | undefined, signal?: AbortSignal,
): Promise<string> {
  if (challenge.scheme === 'basic') {
    if (!credentials) throw new CdiError('CDI_ERR_REGISTRY_AUTH', [registry, 'the registry wants credentials and none were given']);
    return basicHeader(credentials);
  }
  const realm = challenge.params.realm;
  if (!realm) throw new CdiError('CDI_ERR_REGISTRY_AUTH', [registry, 'bearer challenge without a realm']);
  const url = new URL(realm);
  if (challenge.params.service) url.searchParams.set('service', challenge.params.service);
  url.searchParams.set('scope', challenge.params.scope ?? `repository:${repository}:pull`);
  const headers: Record<string, string> = credentials ? { authorization: basicHeader(credentials) } : {};
  const res = await http.send('GET', url, headers, signal);
  if (res.statusCode !== 200) {
    discard(res.body);
    throw new CdiError('CDI_ERR_REGISTRY_AUTH', [registry, `token endpoint answered ${res.statusCode}`]);
  }
  const body = (await res.body.json()) as { token?: string; access_token?: string };
  const token = body.token ?? body.access_token;
  if (!token) throw new CdiError('CDI_ERR_REGISTRY_AUTH', [registry, 'token endpoint returned no token']);
  return `Bearer ${token}`;
}
