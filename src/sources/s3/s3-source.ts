import { CdiError } from '../../api/errors.ts';
import { discard, type HttpResponse } from '../http/client.ts';
import { openHttpSource } from '../http/http-source.ts';
import type { HttpOptions } from '../http/options.ts';
import type { ImportSource } from '../source.ts';
import { signV4 } from './sigv4.ts';

/** CDI's region rule: `s3.<region>.amazonaws.com`, else the first label of the host. */
export function regionOf(host: string): string {
  const aws = /s3\.(.+)\.amazonaws\.com/.exec(host);
  return aws ? aws[1]! : host.split('.')[0]!;
}

/** `http(s)://host/bucket/key` (path style, as CDI forces); scheme `s3` means HTTPS. */
export function s3ObjectUrl(endpoint: string): { url: URL; bucket: string; key: string; region: string } {
  let ep: URL;
  try {
    ep = new URL(endpoint);
  } catch {
    throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `s3 endpoint ${endpoint} is not a URL`]);
  }
  const [bucket = '', ...rest] = ep.pathname.replace(/^\/+|\/+$/g, '').split('/');
  const key = rest.join('/');
  if (!bucket || !key) throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', `s3 endpoint ${endpoint} names no bucket and object`]);
  const scheme = ep.protocol === 'http:' ? 'http' : 'https';
  return { url: new URL(`${scheme}://${ep.host}/${bucket}/${rest.join('/')}`), bucket, key, region: regionOf(ep.host) };
}

async function s3Error(res: HttpResponse): Promise<Error> {
  const text = await res.body.text().catch(() => '');
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  discard(res.body);
  return new CdiError('CDI_ERR_S3', [code ?? String(res.statusCode), message ?? `status code ${res.statusCode}`]);
}

/**
 * An S3 object over the HTTP source's machinery (Range random access, resume, parallel reads),
 * each request signed with SigV4. Without keys the requests go unsigned (public buckets).
 */
export async function openS3Source(
  endpoint: string, keys: { accessKey?: string; secretKey?: string }, options: HttpOptions, signal?: AbortSignal,
): Promise<ImportSource> {
  const object = s3ObjectUrl(endpoint);
  const credentials = keys.accessKey && keys.secretKey ? { accessKey: keys.accessKey, secretKey: keys.secretKey } : undefined;
  return openHttpSource(object.url.toString(), options, signal, {
    ...(credentials ? { signer: (method, url, headers) => signV4(method, url, headers, credentials, object.region) } : {}),
    statusError: s3Error,
  });
}
