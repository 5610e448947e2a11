import { CdiError } from '../api/errors.ts';

import type { UploadTarget, UploadTargetResolver } from '../api/upload-target.ts';

export type { UploadTarget, UploadTargetResolver };

const htmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' };

/** Go's html.EscapeString, which CDI applies to the content type it echoes back. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => htmlEscapes[c]!);
}

/**
 * CDI's checks in CDI's order, polling while the upload server is not ready (every second, ten
 * seconds in all), each failure with CDI's 503 text.
 */
export async function waitForUploadTarget(
  resolver: UploadTargetResolver,
  namespace: string,
  name: string,
  opts: { timeoutMs: number; pollMs: number; signal?: AbortSignal },
): Promise<{ url: string; contentType: 'kubevirt' | 'archive' }> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    const target = await resolver.resolve(namespace, name);
    switch (target.kind) {
      case 'ready':
        return { url: target.url, contentType: target.contentType };
      case 'missing':
        throw new CdiError('CDI_ERR_UPLOAD_PVC_MISSING', [name]);
      case 'not-upload-target':
        throw new CdiError('CDI_ERR_UPLOAD_NOT_TARGET', [name]);
      case 'finished':
        throw new CdiError('CDI_ERR_UPLOAD_FINISHED', [name]);
      case 'bad-content-type':
        throw new CdiError('CDI_ERR_UPLOAD_CONTENT_TYPE', [name, escapeHtml(target.value)]);
      case 'not-ready':
        if (Date.now() + opts.pollMs > deadline) throw new CdiError('CDI_ERR_UPLOAD_NOT_READY');
        await new Promise((resolve) => setTimeout(resolve, opts.pollMs));
        opts.signal?.throwIfAborted();
    }
  }
}
