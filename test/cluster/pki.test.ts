import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/api/logger.ts';
import { issueCertificate, type IssuedCert } from '../../src/cluster/pki/certificate.ts';
import { watchTlsDirectory, type CertWatcher } from '../../src/cluster/pki/reload.ts';
import { atomicWrite } from './support/atomic-writer.ts';

const run = promisify(execFile);
const hour = 3_600_000;
const now = new Date();
const ca = issueCertificate({ commonName: 'cdi-test-signer@1', usage: 'ca', notBefore: now, notAfter: new Date(now.getTime() + 48 * hour) });
const serving = (cn: string): IssuedCert =>
  issueCertificate({ commonName: cn, usage: 'server', hostnames: ['localhost', '127.0.0.1'], notBefore: now, notAfter: new Date(now.getTime() + 24 * hour) }, ca);

function peerCert(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.end();
      if (raw) resolve(raw);
      else reject(new Error('no peer certificate'));
    });
    socket.on('error', reject);
  });
}

describe('certificates', () => {
  const cleanup: Array<() => unknown> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  it('openssl verifies the chain for server and client purposes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdi-pki-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const client = issueCertificate({ commonName: 'client.upload-server.cdi.kubevirt.io', usage: 'client', notBefore: now, notAfter: new Date(now.getTime() + hour) }, ca);
    await writeFile(join(dir, 'ca.pem'), ca.certPem);
    await writeFile(join(dir, 'server.pem'), serving('srv').certPem);
    await writeFile(join(dir, 'client.pem'), client.certPem);
    const server = await run('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslserver', '-x509_strict', join(dir, 'server.pem')]);
    expect(server.stdout).toContain(': OK');
    const clientOk = await run('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslclient', '-x509_strict', join(dir, 'client.pem')]);
    expect(clientOk.stdout).toContain(': OK');
    await expect(run('openssl', ['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslserver', join(dir, 'client.pem')])).rejects.toThrow();
  });

  it('a TLS server serves the swapped certificate to new connections without a restart', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdi-tls-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const first = serving('first');
    const second = serving('second');
    await atomicWrite(dir, { 'tls.crt': first.certPem, 'tls.key': first.keyPem }, 1);

    const server: Server = createServer({ cert: first.certPem, key: first.keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;

    let reloaded!: () => void;
    const reloadedOnce = new Promise<void>((resolve) => (reloaded = resolve));
    const watcher: CertWatcher = watchTlsDirectory(server, { dir, logger: silentLogger, debounceMs: 50, onReload: () => reloaded() });
    cleanup.push(() => watcher.close());

    expect((await peerCert(port)).subject).toBe('CN=first');
    // an unchanged directory is not re-applied
    expect(await watcher.reload()).toBe(false);

    await atomicWrite(dir, { 'tls.crt': second.certPem, 'tls.key': second.keyPem }, 2);
    await reloadedOnce;
    expect((await peerCert(port)).subject).toBe('CN=second');
  });

  it('keeps serving the current certificate when the new key does not match it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cdi-tls-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const first = serving('first');
    const second = serving('second');
    await atomicWrite(dir, { 'tls.crt': first.certPem, 'tls.key': first.keyPem }, 1);
    const server: Server = createServer({ cert: first.certPem, key: first.keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(resolve)));
    const { port } = server.address() as AddressInfo;
    const watcher = watchTlsDirectory(server, { dir, logger: silentLogger, debounceMs: 10_000 });
    cleanup.push(() => watcher.close());

    await atomicWrite(dir, { 'tls.crt': second.certPem, 'tls.key': first.keyPem }, 2);
    expect(await watcher.reload()).toBe(false);
    expect((await peerCert(port)).subject).toBe('CN=first');
  });
});
