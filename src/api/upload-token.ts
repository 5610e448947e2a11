import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { CdiError } from './errors.ts';

/**
 * Upload tokens exactly as cdi-apiserver issues them (pkg/token, pkg/apiserver): a JWT signed
 * PS256 with the RSA-2048 key of Secret `cdi-api-signing-key`, issuer `cdi-apiserver`, valid five
 * minutes, naming the PVC the bearer may upload into. The upload proxy verifies with the public
 * half, allowing 10 s of clock skew.
 */
export const UploadTokenIssuer = 'cdi-apiserver';
export const UploadTokenAlgorithm = 'PS256';
export const UploadTokenTtlSeconds = 5 * 60;
export const UploadTokenLeewaySeconds = 10;

export interface UploadTokenClaims {
  name: string;
  namespace: string;
}

const generateKeyPairAsync = promisify(generateKeyPair);

export async function generateSigningKey(): Promise<{ privatePem: string; publicPem: string }> {
  const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { privatePem: privateKey, publicPem: publicKey };
}

// Keys are parsed once per PEM: the proxy verifies a token on every request.
const privateKeys = new Map<string, KeyObject>();
const publicKeys = new Map<string, KeyObject>();

function cached(cache: Map<string, KeyObject>, pem: string, parse: (pem: string) => KeyObject): KeyObject {
  let key = cache.get(pem);
  if (!key) {
    key = parse(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new CdiError('CDI_ERR_INTERNAL', ['upload token key is not an RSA key']);
    if (cache.size > 16) cache.clear();
    cache.set(pem, key);
  }
  return key;
}

/** Signs a token for one PVC; accepts PKCS#1 (`id_rsa`) and PKCS#8 private keys. */
export async function signUploadToken(
  privatePem: string,
  claims: UploadTokenClaims,
  opts: { now?: Date; ttlSeconds?: number } = {},
): Promise<string> {
  const key = cached(privateKeys, privatePem, (pem) => createPrivateKey(pem));
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  return new SignJWT({
    operation: 'Upload',
    name: claims.name,
    namespace: claims.namespace,
    resource: { group: '', version: 'v1', resource: 'persistentvolumeclaims' },
  })
    .setProtectedHeader({ alg: UploadTokenAlgorithm })
    .setIssuer(UploadTokenIssuer)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(iat + (opts.ttlSeconds ?? UploadTokenTtlSeconds))
    .sign(key);
}

/**
 * Verifies signature (PS256 only, so `alg: none` and HS256-with-the-public-key are refused),
 * issuer and times; then the claims. A token that fails verification is CDI_ERR_TOKEN_INVALID
 * (401); a valid token for anything but an upload into a named PVC is CDI_ERR_TOKEN_SCOPE (400).
 */
export async function verifyUploadToken(publicPem: string, token: string, opts: { now?: Date } = {}): Promise<UploadTokenClaims> {
  const key = cached(publicKeys, publicPem, (pem) => createPublicKey(pem));
  let payload: Record<string, unknown>;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: [UploadTokenAlgorithm],
      issuer: UploadTokenIssuer,
      clockTolerance: UploadTokenLeewaySeconds,
      requiredClaims: ['exp'],
      ...(opts.now ? { currentDate: opts.now } : {}),
    }));
  } catch (err) {
    const reason = err instanceof joseErrors.JOSEError ? err.code : 'ERR_JWT_INVALID';
    throw new CdiError('CDI_ERR_TOKEN_INVALID', [reason], { cause: err });
  }
  const resource = payload.resource as Record<string, unknown> | undefined;
  const { operation, name, namespace } = payload;
  if (
    operation !== 'Upload' ||
    resource?.resource !== 'persistentvolumeclaims' ||
    typeof name !== 'string' ||
    name === '' ||
    typeof namespace !== 'string' ||
    namespace === ''
  ) {
    throw new CdiError('CDI_ERR_TOKEN_SCOPE', [String(operation), String(resource?.resource)]);
  }
  return { name, namespace };
}
