import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadOrCreateCredentials } from './credentials.ts';

describe('apiserver credentials', () => {
  it('creates a CA, a serving certificate, a token and a signing key once, 0600, and reuses them', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cdi-creds-'));
    try {
      const first = await loadOrCreateCredentials(dir, '127.0.0.1');
      const cert = new X509Certificate(first.certPem);
      expect(cert.verify(new X509Certificate(first.caPem).publicKey)).toBe(true);
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
      expect(cert.checkHost('localhost')).toBe('localhost');
      expect(first.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(first.uploadSigningKey.privatePem).toContain('PRIVATE KEY');
      expect((await stat(path.join(dir, 'pki', 'server.key'))).mode & 0o777).toBe(0o600);
      expect(await loadOrCreateCredentials(dir, '127.0.0.1')).toEqual(first);

      // A new bind address keeps CA, token and key, and gets a certificate that names it.
      const other = await loadOrCreateCredentials(dir, '127.0.0.2');
      expect(other.caPem).toBe(first.caPem);
      expect(other.token).toBe(first.token);
      expect(new X509Certificate(other.certPem).checkIP('127.0.0.2')).toBe('127.0.0.2');
      expect(new X509Certificate(other.certPem).verify(new X509Certificate(first.caPem).publicKey)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
