/**
 * The transfer half of `image-upload`: what virtctl does once it holds a token and the upload
 * proxy's URL (probe async with HEAD, POST the file with Content-Length, refresh a token the proxy
 * refuses, retry), plus resuming an interrupted upload from the offset the server holds and the
 * upload checksum header (docs/upload-resume.md).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { CdiError, isCdiError } from '../../api/errors.ts';
import { ProxyClient } from './proxy-client.ts';

export interface TransferOptions {
  /** Upload proxy base URL (`https://host:port`), or a full upload path. */
  proxyUrl: string;
  file: string;
  /** Issues a token; called once up front and again when the proxy answers 401 later on. */
  getToken: () => Promise<string>;
  retries: number;
  insecure: boolean;
  /** Extra CA certificates (PEM) to trust for the proxy, besides the system store. */
  ca?: string;
  /** Continue an interrupted upload from the server's offset instead of starting over. */
  resume: boolean;
  /** `algo:hex` of the file, sent as x-cdi-checksum. */
  checksum?: string;
  /** First retry delay; doubles per attempt up to 30 s. */
  backoffMs?: number;
  onStart?: (url: string, total: number, offset: number) => void;
  onProgress?: (sent: number, total: number) => void;
  log?: (line: string) => void;
}

const UploadPath = '/v1beta1/upload';
const AsyncPath = '/v1beta1/upload-async';
const MaxTokenRefreshes = 3;
/** Answers that retrying cannot change. */
const finalErrors = new WeakSet<Error>();

function withPath(base: string, path: string): string {
  if (/\/v1(beta1|alpha1)\/upload/.test(base)) return base;
  return `${base.replace(/\/+$/, '')}${path}`;
}

/** Uploads the file; resolves once the proxy answered 200 (sync: processed; async: received). */
export async function transferImage(opts: TransferOptions): Promise<{ url: string; async: boolean }> {
  const total = (await stat(opts.file)).size;
  const client = new ProxyClient({ insecure: opts.insecure, ...(opts.ca ? { ca: opts.ca } : {}) });
  let token: string;
  try {
    token = await opts.getToken();
  } catch (err) {
    client.close();
    throw new CdiError('CDI_ERR_UPLOAD_TOKEN_REQUEST', [err instanceof Error ? err.message : String(err)], { cause: err });
  }
  let refreshes = 0;
  let lastError: unknown;
  // A refreshed token is tried at once: the server was fine, the token had expired.
  let freshToken = false;
  try {
    for (let attempt = 1; attempt <= opts.retries; attempt++) {
      if (attempt > 1 && !freshToken) {
        const delay = Math.min(30_000, (opts.backoffMs ?? 1000) * 2 ** (attempt - 2)) * (0.5 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
      freshToken = false;
      try {
        const auth = { authorization: `Bearer ${token}` };
        const probe = await client.head(withPath(opts.proxyUrl, AsyncPath), auth).catch(() => undefined);
        const async = probe?.statusCode === 200;
        const url = withPath(opts.proxyUrl, async ? AsyncPath : UploadPath);
        const offset = opts.resume ? await heldOffset(client, url, auth, total) : 0;
        if (offset > 0) opts.log?.(`Resuming upload at byte ${offset} of ${total}`);
        opts.onStart?.(url, total, offset);
        const headers = {
          ...auth,
          'content-type': 'application/octet-stream',
          ...(offset > 0 ? { 'upload-offset': String(offset) } : {}),
          ...(opts.checksum ? { 'x-cdi-checksum': opts.checksum } : {}),
        };
        const res = await client.postFile(url, headers, { path: opts.file, start: offset, end: total, onSent: (sent) => opts.onProgress?.(sent, total) });
        const text = res.text.trim();
        if (res.statusCode === 200) return { url, async };
        if (res.statusCode === 401) {
          if (attempt === 1 && refreshes === 0) throw new CdiError('CDI_ERR_UPLOAD_AUTH', [text || 'the upload proxy refused the token']);
          if (refreshes >= MaxTokenRefreshes) throw new CdiError('CDI_ERR_UPLOAD_AUTH', [text || 'the upload proxy refused a fresh token']);
          refreshes++;
          opts.log?.('Upload token was refused, requesting a new one');
          token = await opts.getToken();
          freshToken = true;
          lastError = new CdiError('CDI_ERR_UPLOAD_HTTP', [401, text]);
          continue;
        }
        const err = new CdiError('CDI_ERR_UPLOAD_HTTP', [res.statusCode, text]);
        // Only a busy, unready or unreachable upload server gets better by trying again; a refused
        // image (too large, bad checksum, not an image) or a finished volume does not.
        if (res.statusCode < 502) finalErrors.add(err);
        if (finalErrors.has(err)) throw err;
        lastError = err;
      } catch (err) {
        if (isCdiError(err, 'CDI_ERR_UPLOAD_AUTH') || (err instanceof Error && finalErrors.has(err))) throw err;
        lastError = err;
      }
      opts.log?.(`Upload attempt ${attempt} failed: ${lastError instanceof Error ? lastError.message : String(lastError)}`);
    }
    throw new CdiError('CDI_ERR_UPLOAD_RETRIES', [opts.retries, lastError instanceof Error ? lastError.message : String(lastError)], { cause: lastError });
  } finally {
    client.close();
  }
}

/** Asks the upload server how much of an interrupted upload it holds (0 when nothing to continue). */
async function heldOffset(client: ProxyClient, url: string, headers: Record<string, string>, total: number): Promise<number> {
  const res = await client.head(url, headers);
  if (res.statusCode !== 200 || res.headers['upload-state'] !== 'interrupted') return 0;
  const offset = Number(res.headers['upload-offset']);
  const length = res.headers['upload-length'];
  if (length !== undefined && Number(length) !== total) return 0;
  return Number.isSafeInteger(offset) && offset > 0 && offset < total ? offset : 0;
}

/** `--checksum sha256` (no digest): hash the file first so the server can verify what it got. */
export async function resolveChecksum(spec: string | undefined, file: string): Promise<string | undefined> {
  if (!spec || spec.includes(':')) return spec;
  if (!['md5', 'sha1', 'sha256', 'sha512'].includes(spec)) throw new CdiError('CDI_ERR_CHECKSUM_FORMAT', [spec]);
  const hash = createHash(spec);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return `${spec}:${hash.digest('hex')}`;
}
