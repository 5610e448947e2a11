import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';
import { CdiError, isCdiError } from '../api/errors.ts';

type Limits = NonNullable<Parameters<FastifyRequest['parts']>[0]>['limits'];

/** A parser failure (no boundary, a malformed part) is the client's: 400, not 500. */
function formError(err: unknown): CdiError {
  if (isCdiError(err)) return err;
  return new CdiError('CDI_ERR_UPLOAD_FORM', [err instanceof Error ? err.message : String(err)], { cause: err });
}

/**
 * Hands the multipart part named "file" to `use` and drains the rest of the form. The multipart
 * parser never ends a part, nor the form, when the connection is cut before the closing boundary,
 * so that cut is watched here: the part being read fails, and so does the wait for the next one.
 */
export async function withFormFile<T>(request: FastifyRequest, limits: Limits, use: (file: Readable) => Promise<T>): Promise<T> {
  if (!request.isMultipart()) throw new CdiError('CDI_ERR_UPLOAD_FORM', ['request is not multipart/form-data']);
  const raw = request.raw;
  let current: Readable | undefined;
  let onCut: (err: CdiError) => void = () => {};
  const cut = new Promise<never>((_resolve, reject) => {
    onCut = reject;
  });
  cut.catch(() => undefined);
  const onClose = (): void => {
    if (raw.complete) return;
    const err = new CdiError('CDI_ERR_ABORTED', ['the form was cut before its closing boundary']);
    current?.destroy(err);
    onCut(err);
  };
  raw.once('close', onClose);
  try {
    const parts = request.parts({ limits });
    const next = async () => {
      try {
        return await Promise.race([parts.next(), cut]);
      } catch (err) {
        throw formError(err);
      }
    };
    const drain = async (stream: Readable): Promise<void> => {
      current = stream;
      for await (const _chunk of stream);
    };
    for (let part = await next(); !part.done; part = await next()) {
      if (part.value.type !== 'file') continue;
      if (part.value.fieldname !== 'file') {
        await drain(part.value.file);
        continue;
      }
      current = part.value.file;
      const result = await use(part.value.file);
      for (let rest = await next(); !rest.done; rest = await next()) {
        if (rest.value.type === 'file') await drain(rest.value.file);
      }
      return result;
    }
    throw new CdiError('CDI_ERR_UPLOAD_FORM', ['no form part named "file"']);
  } finally {
    raw.off('close', onClose);
  }
}
