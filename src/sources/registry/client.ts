import { createHash } from 'node:crypto';
import { CdiError } from '../../api/errors.ts';
import { discard, header, type HttpClient, type HttpResponse } from '../http/client.ts';
import { authorize, parseChallenge, type Credentials } from './auth.ts';
import type { ImageReference } from './reference.ts';

export const manifestTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

/** Registry 2.8 serves OCI manifests only to clients that say they accept them: always send every type. */
const accept = Object.values(manifestTypes).join(', ');

export interface FetchedManifest {
  mediaType: string;
  bytes: Buffer;
  digest: string;
}

async function registryErrorText(res: HttpResponse): Promise<string> {
  const text = await res.body.text().catch(() => '');
  try {
    const errors = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors ?? [];
    if (errors.length > 0) return errors.map((e) => `${e.code ?? ''}: ${e.message ?? ''}`).join('; ');
  } catch { /* not JSON */ }
  return `status ${res.statusCode}`;
}

/** A pull-only OCI distribution client for one repository: ping, auth challenge, manifests, blobs. */
export class RegistryClient {
  private base: URL;
  private authorization: string | undefined;
  private readonly http: HttpClient;
  private readonly ref: ImageReference;
  private readonly credentials: Credentials | undefined;
  private readonly insecure: boolean;

  constructor(http: HttpClient, ref: ImageReference, credentials: Credentials | undefined, insecure: boolean) {
    this.http = http;
    this.ref = ref;
    this.credentials = credentials;
    this.insecure = insecure;
    this.base = new URL(`https://${ref.registry}`);
  }

  get origin(): string {
    return this.base.origin;
  }

  /** GET /v2/; an insecure registry may speak plain HTTP when TLS fails. */
  async ping(signal?: AbortSignal): Promise<void> {
    let res: HttpResponse;
    try {
      res = await this.http.send('GET', new URL('/v2/', this.base), {}, signal);
    } catch (err) {
      if (!this.insecure || signal?.aborted) throw err;
      this.base = new URL(`http://${this.ref.registry}`);
      res = await this.http.send('GET', new URL('/v2/', this.base), {}, signal);
    }
    discard(res.body);
    if (res.statusCode === 401) await this.answer(res, signal);
    else if (res.statusCode !== 200) throw new CdiError('CDI_ERR_REGISTRY', [this.ref.registry, `ping answered ${res.statusCode}`]);
  }

  private async answer(res: HttpResponse, signal?: AbortSignal): Promise<void> {
    const challenge = parseChallenge(header(res, 'www-authenticate'));
    if (!challenge) throw new CdiError('CDI_ERR_REGISTRY_AUTH', [this.ref.registry, 'unauthorized, without a usable challenge']);
    this.authorization = await authorize(this.http, this.ref.registry, challenge, this.ref.repository, this.credentials, signal);
  }

  /** A GET with the current credentials; one 401 re-answers the new challenge (expired token, new scope). */
  private async get(path: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      const all = this.authorization ? { ...headers, authorization: this.authorization } : headers;
      const res = await this.http.send('GET', new URL(path, this.base), all, signal);
      if (res.statusCode === 401 && attempt === 0) {
        discard(res.body);
        await this.answer(res, signal);
        continue;
      }
      if (res.statusCode === 200 || (res.statusCode === 206 && headers.range !== undefined)) return res;
      const detail = await registryErrorText(res);
      if (res.statusCode === 401 || res.statusCode === 403) throw new CdiError('CDI_ERR_REGISTRY_AUTH', [this.ref.registry, detail]);
      throw new CdiError('CDI_ERR_REGISTRY', [this.ref.registry, `GET ${path}: ${detail}`]);
    }
  }

  /** A manifest or index; its digest is the sha256 of the exact bytes and must match when pinned. */
  async manifest(reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const res = await this.get(`/v2/${this.ref.repository}/manifests/${reference}`, { accept }, signal);
    const bytes = Buffer.from(await res.body.arrayBuffer());
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (reference.startsWith('sha256:') && reference !== digest) {
      throw new CdiError('CDI_ERR_REGISTRY_DIGEST', [`manifest ${reference}`, digest, bytes.byteLength]);
    }
    const mediaType = (header(res, 'content-type') ?? '').split(';')[0]!.trim();
    return { mediaType, bytes, digest };
  }

  /**
   * A blob's response (redirects followed, credentials never sent to another origin); from byte
   * `from` on with Range, which a registry may answer with 206 or with the whole blob (200).
   */
  async blob(digest: string, signal?: AbortSignal, from = 0): Promise<HttpResponse> {
    return this.get(`/v2/${this.ref.repository}/blobs/${digest}`, from > 0 ? { range: `bytes=${from}-` } : {}, signal);
  }
}
