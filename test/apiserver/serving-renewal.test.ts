import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { loadOrCreateCredentials } from '../../src/apiserver/credentials.ts';
import { startHarness, type Harness } from './harness.ts';

/** The certificate a new TLS connection to `url` is served, verified against the data dir's CA. */
function servedCertificate(url: string, caPem: string): Promise<X509Certificate> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ca: caPem, servername: 'localhost' }, () => {
      const cert = new X509Certificate(socket.getPeerX509Certificate()!.raw);
      socket.end();
      resolve(cert);
    });
    socket.on('error', reject);
  });
}

describe('API server serving certificate renewal while running', () => {
  let dataDir: string | undefined;
  let harness: Harness | undefined;
  afterEach(async () => {
    await harness?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    harness = undefined;
    dataDir = undefined;
  });

  it('serves a renewed certificate from the same CA to new connections 80% into the old one\'s life, and stores it', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cdi-apiserver-renewal-'));
    const creds = await loadOrCreateCredentials(dataDir, '127.0.0.1');
    const caKeyPem = await readFile(path.join(dataDir, 'pki', 'ca.key'), 'utf8');
    // Due for renewal five seconds from now: after start, which reissues a certificate already due.
    const now = Date.now();
    const short = issueCertificate(
      { commonName: 'cdi-apiserver', usage: 'server', hostnames: ['localhost', '127.0.0.1', '::1'], notBefore: new Date(now - 1000), notAfter: new Date(now + 6500) },
      { certPem: creds.caPem, keyPem: caKeyPem },
    );
    await writeFile(path.join(dataDir, 'pki', 'server.crt'), short.certPem);
    await writeFile(path.join(dataDir, 'pki', 'server.key'), short.keyPem);

    harness = await startHarness({ dataDir });
    const url = harness.server.url;
    expect((await servedCertificate(url, creds.caPem)).fingerprint256).toBe(new X509Certificate(short.certPem).fingerprint256);

    const renewed = await vi.waitFor(
      async () => {
        const cert = await servedCertificate(url, creds.caPem);
        expect(cert.validToDate.getTime()).toBeGreaterThan(now + 365 * 24 * 3_600_000);
        return cert;
      },
      { timeout: 20_000, interval: 250 },
    );
    expect(renewed.verify(new X509Certificate(creds.caPem).publicKey)).toBe(true);
    expect(renewed.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(new X509Certificate(await readFile(path.join(dataDir, 'pki', 'server.crt'), 'utf8')).fingerprint256).toBe(renewed.fingerprint256);
    // Clients holding the kubeconfig keep working across the renewal.
    const namespaces = await harness.core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain('default');
  }, 30_000);
});
