import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, jwtVerify } from 'jose';
import { generateSigningKey } from '../../api/upload-token.ts';
import type { KubeObject } from '../kinds.ts';
import { serviceAccountUser, type UserInfo } from './user.ts';

/**
 * Bound ServiceAccount tokens as kube-apiserver issues them from the TokenRequest API: RS256 JWTs
 * with the `kubernetes.io` claim naming the namespace and the ServiceAccount's name and UID. A
 * token authenticates only while that very ServiceAccount (same UID) exists, until it expires,
 * and only for an audience the server accepts (its issuer, as kube-apiserver's default).
 */
export const Issuer = 'https://kubernetes.default.svc.cluster.local';
export const DefaultExpirationSeconds = 3600;
export const MinExpirationSeconds = 600;
export const MaxExpirationSeconds = 2 ** 32;

interface KubernetesClaim {
  namespace?: unknown;
  serviceaccount?: { name?: unknown; uid?: unknown };
}

export interface ServiceAccountKeys {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/**
 * The signing key under `<dataDir>/pki/sa.key` (0600), created on first use (kube's
 * --service-account-key-file). A new key is made at once but written only once `pkiCreated`
 * settles: the API server's credentials create pki/ as one set, by renaming a directory into place.
 */
export async function loadOrCreateServiceAccountKeys(dataDir: string, pkiCreated: PromiseLike<unknown> = Promise.resolve()): Promise<ServiceAccountKeys> {
  const file = path.join(dataDir, 'pki', 'sa.key');
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    pem = (await generateSigningKey()).privatePem;
    await pkiCreated;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await writeFile(`${file}.tmp`, pem, { mode: 0o600 });
    await rename(`${file}.tmp`, file);
  }
  const privateKey = createPrivateKey(pem);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

export async function signServiceAccountToken(
  keys: ServiceAccountKeys,
  sa: { namespace: string; name: string; uid: string },
  opts: { audiences: string[]; expirationSeconds: number; now?: Date },
): Promise<{ token: string; expirationTimestamp: Date }> {
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const exp = iat + opts.expirationSeconds;
  const token = await new SignJWT({ 'kubernetes.io': { namespace: sa.namespace, serviceaccount: { name: sa.name, uid: sa.uid } } })
    .setProtectedHeader({ alg: 'RS256' })
    .setIssuer(Issuer)
    .setSubject(`system:serviceaccount:${sa.namespace}:${sa.name}`)
    .setAudience(opts.audiences)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .sign(keys.privateKey);
  return { token, expirationTimestamp: new Date(exp * 1000) };
}

/** Whether a bearer token is one of ours at all (a JWT), so other bearer tokens skip the verification. */
export const looksLikeJwt = (token: string): boolean => /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

/**
 * The user a ServiceAccount token stands for, or undefined when it is forged, expired, for another
 * audience, or for a ServiceAccount that no longer exists (or was recreated with a new UID).
 */
export async function authenticateServiceAccountToken(
  keys: ServiceAccountKeys,
  token: string,
  findServiceAccount: (namespace: string, name: string) => KubeObject | undefined,
): Promise<{ user: UserInfo; expiresAt: number } | undefined> {
  let claim: KubernetesClaim;
  let expiresAt: number;
  try {
    const { payload } = await jwtVerify(token, keys.publicKey, { algorithms: ['RS256'], issuer: Issuer, audience: Issuer, requiredClaims: ['exp'] });
    claim = (payload['kubernetes.io'] ?? {}) as KubernetesClaim;
    expiresAt = payload.exp! * 1000;
  } catch {
    return undefined;
  }
  const { namespace } = claim;
  const name = claim.serviceaccount?.name;
  const uid = claim.serviceaccount?.uid;
  if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string') return undefined;
  const sa = findServiceAccount(namespace, name);
  if (!sa || sa.metadata?.uid !== uid || sa.metadata.deletionTimestamp) return undefined;
  return { user: serviceAccountUser(namespace, name, uid), expiresAt };
}
