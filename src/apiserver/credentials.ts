import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import path from 'node:path';
import { generateSigningKey } from '../api/upload-token.ts';
import { issueCertificate } from '../cluster/pki/certificate.ts';
import { renewalDue } from '../cluster/pki/serving-renewal.ts';

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

/** Names the serving certificate covers: loopback, the bind address, or every address for 0.0.0.0/::. */
export function serverHostnames(host: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  if (host === '0.0.0.0' || host === '::') {
    names.add(hostname());
    for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) names.add(a.address.split('%')[0]!);
  } else if (host) names.add(host);
  return [...names].filter((n) => isIP(n) || /^[a-z0-9.-]+$/i.test(n));
}

function covers(certPem: string, names: string[]): boolean {
  const cert = new X509Certificate(certPem);
  return names.every((n) => (isIP(n) ? cert.checkIP(n) : cert.checkHost(n)) !== undefined);
}

function issueServer(ca: { certPem: string; keyPem: string }, host: string) {
  const now = Date.now();
  return issueCertificate(
    { commonName: 'cdi-apiserver', usage: 'server', notBefore: new Date(now - 3600_000), notAfter: new Date(now + TenYears), hostnames: serverHostnames(host) },
    ca,
  );
}

/**
 * A new serving certificate from the data dir's CA, written over the old pair (each file
 * atomically) so a restart serves it too.
 */
export async function reissueServingCertificate(dataDir: string, caPem: string, host: string): Promise<{ certPem: string; keyPem: string }> {
  const dir = path.join(dataDir, 'pki');
  const caKeyPem = await readFile(path.join(dir, files.caKey), 'utf8');
  const server = issueServer({ certPem: caPem, keyPem: caKeyPem }, host);
  for (const [f, text] of [
    [files.key, server.keyPem],
    [files.cert, server.certPem],
  ] as const) {
    await writeFile(path.join(dir, `${f}.tmp`), text, { mode: 0o600 });
    await rename(path.join(dir, `${f}.tmp`), path.join(dir, f));
  }
  return { certPem: server.certPem, keyPem: server.keyPem };
}

/**
 * A serving certificate that does not name the bind address, or is expired or 80% into its life,
 * is replaced by a new one from the same CA.
 */
async function reissueIfNeeded(dataDir: string, creds: Credentials, host: string): Promise<Credentials> {
  if (covers(creds.certPem, serverHostnames(host)) && Date.now() < renewalDue(creds.certPem).getTime()) return creds;
  return { ...creds, ...(await reissueServingCertificate(dataDir, creds.caPem, host)) };
}

/** Loads the credentials of a data dir, creating them all (atomically, as one set) when absent. */
export async function loadOrCreateCredentials(dataDir: string, host: string): Promise<Credentials> {
  const dir = path.join(dataDir, 'pki');
  const existing = await readAll(dir);
  if (existing) return reissueIfNeeded(dataDir, existing, host);
  const now = Date.now();
  const ca = issueCertificate({ commonName: 'cdi-apiserver-ca', usage: 'ca', notBefore: new Date(now - 3600_000), notAfter: new Date(now + TenYears) });
  const server = issueServer(ca, host);
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
