import { generateSigningKey } from '../../api/upload-token.ts';
import type { CertStore } from './rotation.ts';

/** Secret `cdi-api-signing-key` as CDI names it: `id_rsa` signs upload tokens, `id_rsa.pub` verifies them. */
export const SigningKeySecret = { name: 'cdi-api-signing-key', privateKey: 'id_rsa', publicKey: 'id_rsa.pub' } as const;

/** Creates the token signing key once; CDI never rotates it (tokens live five minutes). */
export async function ensureSigningKey(store: CertStore): Promise<boolean> {
  const existing = await store.readSecret(SigningKeySecret.name);
  if (existing?.[SigningKeySecret.privateKey] && existing[SigningKeySecret.publicKey]) return false;
  const key = await generateSigningKey();
  await store.writeSecret(SigningKeySecret.name, 'Opaque', { [SigningKeySecret.privateKey]: key.privatePem, [SigningKeySecret.publicKey]: key.publicPem });
  return true;
}
