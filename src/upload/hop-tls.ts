import { constants } from 'node:crypto';
import tls from 'node:tls';

/**
 * Cipher order for the upload path's TLS: the proxy → upload server hop (both ends) and the
 * proxy's front door. Every byte of an upload is encrypted and decrypted once per TLS leg;
 * AES-128-GCM costs about an eighth less CPU than Node's first choice (AES-256-GCM) and is what
 * Go's TLS stack, CDI's proxy, picks on AES hardware. Node's defaults follow it unchanged.
 */
export const uploadHopCiphers = ['TLS_AES_128_GCM_SHA256', ...tls.DEFAULT_CIPHERS.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256')].join(':');

/**
 * Server options for the proxy's front door: the server's order decides, as in Go's servers, so
 * curl and OpenSSL clients (AES-256-GCM first) get AES-128-GCM; a client that lists ChaCha20
 * first (no AES hardware) keeps it.
 */
export const uploadServerCipherOptions = {
  ciphers: uploadHopCiphers,
  honorCipherOrder: true,
  secureOptions: constants.SSL_OP_PRIORITIZE_CHACHA,
} as const;
