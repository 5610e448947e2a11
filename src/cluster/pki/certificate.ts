import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import * as der from './der.ts';

/**
 * Issues the X.509 certificates cluster mode needs (signers, serving and client leaves) with
 * node:crypto alone: ECDSA P-256 keys, SHA-256 signatures, the extensions Go's and Node's TLS
 * stacks check. Certificates are read back with node:crypto's X509Certificate.
 */

export type CertUsage = 'ca' | 'server' | 'client';

export interface CertRequest {
  commonName: string;
  usage: CertUsage;
  notBefore: Date;
  notAfter: Date;
  /** DNS names and IP addresses for the subjectAltName of a serving certificate. */
  hostnames?: readonly string[];
}

export interface IssuedCert {
  certPem: string;
  keyPem: string;
}

export interface Signer {
  certPem: string;
  keyPem: string;
}

const Oid = {
  commonName: '2.5.4.3',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

// keyUsage bits, most significant first: digitalSignature(0) keyCertSign(5) cRLSign(6).
// ECDSA keys sign and never encipher, so leaves carry digitalSignature only.
const KeyUsageBits = { ca: 0x86, leaf: 0x80 } as const;

function name(commonName: string): Buffer {
  return der.sequence(der.set(der.sequence(der.objectIdentifier(Oid.commonName), der.utf8String(commonName))));
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return der.sequence(der.objectIdentifier(oid), ...(critical ? [der.boolean(true)] : []), der.octetString(value));
}

function keyUsage(bits: number): Buffer {
  let unused = 0;
  while (unused < 8 && ((bits >> unused) & 1) === 0) unused++;
  return der.bitString(Buffer.from([bits]), unused);
}

function subjectAltNames(hostnames: readonly string[]): Buffer {
  const names = hostnames.map((host) => {
    const family = isIP(host);
    if (family === 0) return der.implicitPrimitive(2, Buffer.from(host, 'ascii'));
    const bytes = family === 4 ? Buffer.from(host.split('.').map(Number)) : ipv6Bytes(host);
    return der.implicitPrimitive(7, bytes);
  });
  return der.sequence(...names);
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail = ''] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = address.includes('::') ? groups(tail) : [];
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = Buffer.alloc(16);
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** RFC 7093 §2 method 1 style: SHA-1 of the encoded SubjectPublicKeyInfo, stable for a key. */
function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest();
}

function commonNameOf(cert: X509Certificate): string {
  const line = cert.subject.split('\n').find((l) => l.startsWith('CN='));
  if (!line) throw new RangeError('signer certificate has no common name');
  return line.slice(3);
}

/** Creates a key pair and a certificate for it, self-signed when no signer is given. */
export function issueCertificate(request: CertRequest, signer?: Signer): IssuedCert {
  if (request.usage !== 'ca' && !signer) throw new RangeError('leaf certificates need a signer');
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const issuerCert = signer ? new X509Certificate(signer.certPem) : undefined;
  const issuerKey = signer ? createPrivateKey(signer.keyPem) : privateKey;
  const issuerName = issuerCert ? name(commonNameOf(issuerCert)) : name(request.commonName);
  const authorityKeyId = keyIdentifier(issuerCert ? issuerCert.publicKey : publicKey);

  const isCa = request.usage === 'ca';
  const extensions = [
    extension(Oid.basicConstraints, true, isCa ? der.sequence(der.boolean(true)) : der.sequence()),
    extension(Oid.keyUsage, true, keyUsage(isCa ? KeyUsageBits.ca : KeyUsageBits.leaf)),
    extension(Oid.subjectKeyIdentifier, false, der.octetString(keyIdentifier(publicKey))),
    extension(Oid.authorityKeyIdentifier, false, der.sequence(der.implicitPrimitive(0, authorityKeyId))),
  ];
  if (!isCa) {
    const purpose = request.usage === 'server' ? Oid.serverAuth : Oid.clientAuth;
    extensions.push(extension(Oid.extKeyUsage, false, der.sequence(der.objectIdentifier(purpose))));
  }
  if (request.hostnames && request.hostnames.length > 0) {
    extensions.push(extension(Oid.subjectAltName, false, subjectAltNames(request.hostnames)));
  }

  const signatureAlgorithm = der.sequence(der.objectIdentifier(Oid.ecdsaWithSha256));
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const tbs = der.sequence(
    der.explicit(0, der.smallInteger(2)),
    der.unsignedInteger(serial),
    signatureAlgorithm,
    issuerName,
    der.sequence(der.time(request.notBefore), der.time(request.notAfter)),
    name(request.commonName),
    publicKey.export({ type: 'spki', format: 'der' }),
    der.explicit(3, der.sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, { key: issuerKey, dsaEncoding: 'der' });
  const certificate = der.sequence(tbs, signatureAlgorithm, der.bitString(signature));
  return {
    certPem: toPem('CERTIFICATE', certificate),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function toPem(label: string, bytes: Buffer): string {
  const lines = bytes.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Splits a PEM bundle into its certificates (unparseable blocks are dropped). */
export function parseBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certs: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      certs.push(new X509Certificate(block));
    } catch {
      // a corrupt block in a bundle must not stop the valid ones from being trusted
    }
  }
  return certs;
}
