import { createHmac } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCdiError } from './errors.ts';
import { generateSigningKey, signUploadToken, verifyUploadToken } from './upload-token.ts';

let keys: { privatePem: string; publicPem: string };
let otherKeys: { privatePem: string; publicPem: string };
beforeAll(async () => {
  [keys, otherKeys] = await Promise.all([generateSigningKey(), generateSigningKey()]);
});

const b64 = (v: object | string) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

async function expectCode(promise: Promise<unknown>, code: 'CDI_ERR_TOKEN_INVALID' | 'CDI_ERR_TOKEN_SCOPE'): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isCdiError(err, code), String(err)).toBe(true);
}

describe('upload tokens', () => {
  it('signs PS256 with CDI claims and verifies them', async () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const token = await signUploadToken(keys.privatePem, { name: 'disk', namespace: 'vms' }, { now });
    expect(decodeProtectedHeader(token).alg).toBe('PS256');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: 'cdi-apiserver',
      iat: 1767225600,
      nbf: 1767225600,
      exp: 1767225600 + 300,
      operation: 'Upload',
      name: 'disk',
      namespace: 'vms',
      resource: { group: '', version: 'v1', resource: 'persistentvolumeclaims' },
    });
    await expect(verifyUploadToken(keys.publicPem, token, { now })).resolves.toEqual({ name: 'disk', namespace: 'vms' });
  });

  it('allows 10 s of clock skew and no more', async () => {
    const now = new Date('2026-01-01T00:00:00Z');
    const token = await signUploadToken(keys.privatePem, { name: 'd', namespace: 'n' }, { now });
    await expect(verifyUploadToken(keys.publicPem, token, { now: new Date(now.getTime() + 309_000) })).resolves.toBeTruthy();
    await expectCode(verifyUploadToken(keys.publicPem, token, { now: new Date(now.getTime() + 311_000) }), 'CDI_ERR_TOKEN_INVALID');
    await expect(verifyUploadToken(keys.publicPem, token, { now: new Date(now.getTime() - 9_000) })).resolves.toBeTruthy();
    await expectCode(verifyUploadToken(keys.publicPem, token, { now: new Date(now.getTime() - 11_000) }), 'CDI_ERR_TOKEN_INVALID');
  });

  it('refuses other keys, issuers, alg none and HS256 keyed with the public key', async () => {
    const foreign = await signUploadToken(otherKeys.privatePem, { name: 'd', namespace: 'n' });
    await expectCode(verifyUploadToken(keys.publicPem, foreign), 'CDI_ERR_TOKEN_INVALID');

    const iat = Math.floor(Date.now() / 1000);
    const claims = {
      iss: 'cdi-apiserver',
      iat,
      nbf: iat,
      exp: iat + 300,
      operation: 'Upload',
      name: 'd',
      namespace: 'n',
      resource: { group: '', version: 'v1', resource: 'persistentvolumeclaims' },
    };
    const none = `${b64({ alg: 'none' })}.${b64(claims)}.`;
    await expectCode(verifyUploadToken(keys.publicPem, none), 'CDI_ERR_TOKEN_INVALID');

    const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
    const hs = `${input}.${createHmac('sha256', keys.publicPem).update(input).digest('base64url')}`;
    await expectCode(verifyUploadToken(keys.publicPem, hs), 'CDI_ERR_TOKEN_INVALID');

    const { createPrivateKey } = await import('node:crypto');
    const wrongIssuer = await new SignJWT({ ...claims, iss: 'someone-else' })
      .setProtectedHeader({ alg: 'PS256' })
      .sign(createPrivateKey(keys.privatePem));
    await expectCode(verifyUploadToken(keys.publicPem, wrongIssuer), 'CDI_ERR_TOKEN_INVALID');
    await expectCode(verifyUploadToken(keys.publicPem, 'not.a.jwt'), 'CDI_ERR_TOKEN_INVALID');
  });

  it('refuses valid tokens for other operations or resources with the scope code', async () => {
    const { createPrivateKey } = await import('node:crypto');
    const key = createPrivateKey(keys.privatePem);
    const sign = (extra: object) =>
      new SignJWT({ name: 'd', namespace: 'n', ...extra })
        .setProtectedHeader({ alg: 'PS256' })
        .setIssuer('cdi-apiserver')
        .setIssuedAt()
        .setNotBefore('0s')
        .setExpirationTime('5m')
        .sign(key);
    await expectCode(verifyUploadToken(keys.publicPem, await sign({ operation: 'Clone', resource: { group: '', version: 'v1', resource: 'persistentvolumeclaims' } })), 'CDI_ERR_TOKEN_SCOPE');
    await expectCode(verifyUploadToken(keys.publicPem, await sign({ operation: 'Upload', resource: { group: '', version: 'v1', resource: 'pods' } })), 'CDI_ERR_TOKEN_SCOPE');
    await expectCode(verifyUploadToken(keys.publicPem, await sign({ operation: 'Upload', resource: { resource: 'persistentvolumeclaims' }, name: '' })), 'CDI_ERR_TOKEN_SCOPE');
  });
});
