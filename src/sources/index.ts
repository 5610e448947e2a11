import { CdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import { openHttpSource } from './http/http-source.ts';
import type { HttpOptions } from './http/options.ts';
import type { ImportSource } from './source.ts';

export type { ImportSource } from './source.ts';
export { ByteMeter } from './meter.ts';
export { createBlank, type BlankTarget } from './blank.ts';
export type { HttpOptions } from './http/options.ts';

/** What any remote source needs: CDI's endpoint, secret keys, certificates and headers. */
export interface SourceRequest {
  kind: 'http' | 's3' | 'registry';
  endpoint: string;
  accessKey?: string;
  secretKey?: string;
  certDir?: string;
  proxyCertDir?: string;
  insecure?: boolean;
  extraHeaders?: ReadonlyArray<readonly [string, string]>;
  /** Registry platform choice (IMPORTER_REGISTRY_IMAGE_ARCHITECTURE); default amd64, and then unchecked for single-arch images. */
  architecture?: string;
  idleTimeoutMs?: number;
  /** pullMethod node: the image the node pulled, as a directory; the registry is not contacted. */
  imageDir?: string;
  logger?: Logger;
  /** Tuning for tests and benchmarks (parallel ranges, resume attempts). */
  http?: Partial<HttpOptions>;
}

function httpOptions(request: SourceRequest, withBasicAuth: boolean): HttpOptions {
  const credentials = request.accessKey !== undefined && request.secretKey !== undefined;
  return {
    ...request.http,
    ...(request.certDir ? { certDir: request.certDir } : {}),
    ...(request.proxyCertDir ? { proxyCertDir: request.proxyCertDir } : {}),
    insecure: request.insecure === true,
    ...(request.extraHeaders ? { extraHeaders: request.extraHeaders } : {}),
    ...(withBasicAuth && credentials ? { basicAuth: { user: request.accessKey!, password: request.secretKey! } } : {}),
    ...(request.idleTimeoutMs ? { idleTimeoutMs: request.idleTimeoutMs } : {}),
    ...(request.logger ? { logger: request.logger } : {}),
  };
}

/**
 * Opens the source CDI's IMPORTER_SOURCE names; the engine reads its `input`. The registry
 * (tar-stream) and S3 clients load only when asked for: a worker pod runs one source.
 */
export async function openSource(request: SourceRequest, signal?: AbortSignal): Promise<ImportSource> {
  if (!request.endpoint) throw new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', 'the endpoint is empty']);
  switch (request.kind) {
    case 'http':
      return openHttpSource(request.endpoint, httpOptions(request, true), signal);
    case 's3': {
      const { openS3Source } = await import('./s3/s3-source.ts');
      return openS3Source(request.endpoint, { accessKey: request.accessKey, secretKey: request.secretKey }, httpOptions(request, false), signal);
    }
    case 'registry': {
      if (request.imageDir) {
        const { openImageDirSource } = await import('./registry/image-dir-source.ts');
        return openImageDirSource(request.imageDir, request.endpoint);
      }
      const { openRegistrySource } = await import('./registry/registry-source.ts');
      return openRegistrySource(request.endpoint, {
        ...(request.accessKey !== undefined && request.secretKey !== undefined ? { credentials: { user: request.accessKey, password: request.secretKey } } : {}),
        ...(request.architecture ? { architecture: request.architecture, architectureRequested: true } : {}),
      }, httpOptions(request, false), signal);
    }
    default:
      throw new CdiError('CDI_ERR_UNKNOWN_SOURCE', [String((request as { kind: unknown }).kind)]);
  }
}
