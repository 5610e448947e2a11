import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertFiles {
  /** The CA certificate (PEM file path and text). */
  caCert: string;
  caPem: string;
  caKey: string;
  /** A server certificate for `hosts`, signed by the CA. */
  serverCert: string;
  serverPem: string;
  serverKey: string;
  serverKeyPem: string;
  /** A client certificate (CN `client`, clientAuth), signed by the CA. */
  clientCert: string;
  clientPem: string;
  clientKey: string;
  clientKeyPem: string;
}

export interface MakeCertsOptions {
  /** DNS names and IP addresses the server certificate is valid for. Default: localhost, 127.0.0.1. */
  hosts?: string[];
  /** Common name of the CA (distinct per call keeps trust stores from mixing up CAs). */
  caName?: string;
}

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  await run('openssl', args, { cwd });
}

function altNames(hosts: string[]): string {
  return hosts.map((h) => (/^[\d.]+$|:/.test(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
}

async function signLeaf(dir: string, name: string, cn: string, ext: string): Promise<void> {
  await openssl(dir, 'req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  await writeFile(path.join(dir, `${name}.ext`), ext);
  await openssl(dir, 'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '825', '-extfile', `${name}.ext`);
}

/**
 * An openssl CA with a server and a client certificate in `dir` (created if missing):
 * ca.crt/ca.key, server.crt/server.key, client.crt/client.key. Reuses the files when present.
 */
export async function makeCerts(dir: string, options: MakeCertsOptions = {}): Promise<CertFiles> {
  const hosts = options.hosts ?? ['localhost', '127.0.0.1'];
  await mkdir(dir, { recursive: true });
  const files = {
    caCert: path.join(dir, 'ca.crt'),
    caKey: path.join(dir, 'ca.key'),
    serverCert: path.join(dir, 'server.crt'),
    serverKey: path.join(dir, 'server.key'),
    clientCert: path.join(dir, 'client.crt'),
    clientKey: path.join(dir, 'client.key'),
  };
  const existing = await readFile(files.clientKey, 'utf8').catch(() => undefined);
  if (existing === undefined) {
    await openssl(dir, 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt',
      '-days', '3650', '-subj', `/CN=${options.caName ?? 'cdi-ts-test-ca'}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    await signLeaf(dir, 'server', hosts[0] ?? 'localhost',
      `subjectAltName=${altNames(hosts)}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`);
    await signLeaf(dir, 'client', 'client', 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  }
  const [caPem, serverPem, serverKeyPem, clientPem, clientKeyPem] = await Promise.all(
    [files.caCert, files.serverCert, files.serverKey, files.clientCert, files.clientKey].map((f) => readFile(f, 'utf8')),
  );
  return { ...files, caPem: caPem!, serverPem: serverPem!, serverKeyPem: serverKeyPem!, clientPem: clientPem!, clientKeyPem: clientKeyPem! };
}
