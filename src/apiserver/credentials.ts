import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { generateSigningKey } from '../api/upload-token.ts';
import { issueCertificate } from '../cluster/pki/certificate.ts';

/**
 * The server's secrets, created on first start under `<dataDir>/pki` and reused afterwards: a CA,
 * a serving certificate for localhost/127.0.0.1 (and the bind address), the bearer token, and
 * the RSA-2048 key that signs upload tokens (CDI's `cdi-api-signing-key`). Files are 0600.
 */
export interface Credentials {
  caPem: string;
  certPem: string;
  keyPem: string;
  token: string;
  uploadSigningKey: { privatePem: string; publicPem: string };
}

const files = {
  ca: 'ca.crt',
  caKey: 'ca.key',
  cert: 'server.crt',
  key: 'server.key',
  token: 'token',
  uploadKey: 'upload-signing.key',
  uploadPub: 'upload-signing.pub',
} as const;

const TenYears = 10 * 365 * 24 * 3600 * 1000;

async function readAll(dir: string): Promise<Credentials | undefined> {
  try {
    const read = (f: string) => readFile(path.join(dir, f), 'utf8');
    const [caPem, certPem, keyPem, token, privatePem, publicPem] = await Promise.all(
      [files.ca, files.cert, files.key, files.token, files.uploadKey, files.uploadPub].map(read),
    );
    return { caPem: caPem!, certPem: certPem!, keyPem: keyPem!, token: token!.trim(), uploadSigningKey: { privatePem: privatePem!, publicPem: publicPem! } };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

export function serverHostnames(host: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  if (host && host !== '0.0.0.0' && host !== '::') names.add(host);
  return [...names].filter((n) => isIP(n) || /^[a-z0-9.-]+$/i.test(n));
}

/** Loads the credentials of a data dir, creating them all (atomically, as one set) when absent. */
export async function loadOrCreateCredentials(dataDir: string, host: string): Promise<Credentials> {
  const dir = path.join(dataDir, 'pki');
  const existing = await readAll(dir);
  if (existing) return existing;
  const now = Date.now();
  const notBefore = new Date(now - 3600_000);
  const notAfter = new Date(now + TenYears);
  const ca = issueCertificate({ commonName: 'cdi-apiserver-ca', usage: 'ca', notBefore, notAfter });
  const server = issueCertificate(
    { commonName: 'cdi-apiserver', usage: 'server', notBefore, notAfter, hostnames: serverHostnames(host) },
    { certPem: ca.certPem, keyPem: ca.keyPem },
  );
  const uploadSigningKey = await generateSigningKey();
  const token = randomBytes(32).toString('base64url');
  const tmp = `${dir}.tmp-${process.pid}`;
  await mkdir(tmp, { recursive: true, mode: 0o700 });
  const contents: Record<string, string> = {
    [files.ca]: ca.certPem,
    [files.caKey]: ca.keyPem,
    [files.cert]: server.certPem,
    [files.key]: server.keyPem,
    [files.token]: `${token}\n`,
    [files.uploadKey]: uploadSigningKey.privatePem,
    [files.uploadPub]: uploadSigningKey.publicPem,
  };
  await Promise.all(Object.entries(contents).map(([f, text]) => writeFile(path.join(tmp, f), text, { mode: 0o600 })));
  await rename(tmp, dir);
  return { caPem: ca.certPem, certPem: server.certPem, keyPem: server.keyPem, token, uploadSigningKey };
}
