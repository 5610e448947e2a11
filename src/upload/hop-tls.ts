import tls from 'node:tls';

/**
 * Cipher order for the proxy → upload server hop, on both ends. Every byte of an upload is
 * encrypted once more there; AES-128-GCM costs less than Node's first choice (AES-256-GCM) and is
 * what Go's TLS stack, CDI's proxy, picks on AES hardware. Node's defaults follow it unchanged.
 */
export const uploadHopCiphers = ['TLS_AES_128_GCM_SHA256', ...tls.DEFAULT_CIPHERS.split(':').filter((c) => c !== 'TLS_AES_128_GCM_SHA256')].join(':');
