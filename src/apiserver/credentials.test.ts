import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { issueCertificate } from '../cluster/pki/certificate.ts';
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

  it('reissues a serving certificate that expired, or is 80% into its life, from the same CA at start', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'cdi-creds-'));
    try {
      const first = await loadOrCreateCredentials(dir, '127.0.0.1');
      const caKeyPem = await readFile(path.join(dir, 'pki', 'ca.key'), 'utf8');
      const hour = 3_600_000;
      const now = Date.now();
      for (const [notBefore, notAfter] of [
        [now - 2 * hour, now - hour],
        [now - 9 * hour, now + hour],
      ] as const) {
        const stale = issueCertificate(
          { commonName: 'cdi-apiserver', usage: 'server', hostnames: ['localhost', '127.0.0.1', '::1'], notBefore: new Date(notBefore), notAfter: new Date(notAfter) },
          { certPem: first.caPem, keyPem: caKeyPem },
        );
        await writeFile(path.join(dir, 'pki', 'server.crt'), stale.certPem);
        await writeFile(path.join(dir, 'pki', 'server.key'), stale.keyPem);
        const next = await loadOrCreateCredentials(dir, '127.0.0.1');
        const cert = new X509Certificate(next.certPem);
        expect(cert.validToDate.getTime()).toBeGreaterThan(now + 365 * 24 * hour);
        expect(cert.verify(new X509Certificate(first.caPem).publicKey)).toBe(true);
        expect(next.caPem).toBe(first.caPem);
        expect(await readFile(path.join(dir, 'pki', 'server.crt'), 'utf8')).toBe(next.certPem);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
