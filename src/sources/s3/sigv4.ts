import { createHash, createHmac } from 'node:crypto';

export interface Credentials {
  accessKey: string;
  secretKey: string;
}

const emptyPayload = createHash('sha256').update('').digest('hex');

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding of one path segment, as SigV4's canonical URI wants it. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(decodeURIComponent(segment)).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(url: URL): string {
  const pairs = [...url.searchParams].map(([k, v]) => [encodeURIComponent(k), encodeURIComponent(v)] as const);
  pairs.sort(([a, av], [b, bv]) => (a === b ? (av < bv ? -1 : 1) : a < b ? -1 : 1));
  return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/**
 * Signs a body-less request with AWS Signature Version 4 (service s3), adding `host`,
 * `x-amz-date`, `x-amz-content-sha256` and `authorization` to `headers`.
 */
export function signV4(method: string, url: URL, headers: Record<string, string>, credentials: Credentials, region: string, now = new Date()): void {
  const amzDate = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  headers.host = url.host;
  headers['x-amz-date'] = amzDate;
  headers['x-amz-content-sha256'] = emptyPayload;
  const signed = ['host', ...(headers.range !== undefined ? ['range'] : []), 'x-amz-content-sha256', 'x-amz-date'];
  const canonicalRequest = [
    method,
    url.pathname.split('/').map(encodeSegment).join('/'),
    canonicalQuery(url),
    signed.map((h) => `${h}:${headers[h]!.trim()}\n`).join(''),
    signed.join(';'),
    emptyPayload,
  ].join('\n');
  const scope = `${day}/${region}/s3/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${credentials.secretKey}`, day), region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKey}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${signature}`;
}
