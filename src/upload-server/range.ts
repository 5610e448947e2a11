import type { IncomingHttpHeaders } from 'node:http';
import { CdiError } from '../api/errors.ts';
import { UploadHeaders } from '../upload/paths.ts';

export interface UploadRange {
  contentLength: number | undefined;
  /** Where the body starts in the image (Upload-Offset or Content-Range start). */
  offset: number | undefined;
  /** Total image bytes, when Content-Range states it. */
  total: number | undefined;
}

const rangePattern = /^bytes (\d+)-(\d+)\/(\d+|\*)$/;

function count(text: string, what: string): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n)) throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`invalid ${what} ${JSON.stringify(text)}`]);
  return n;
}

/** Reads the resume headers of docs/upload-resume.md; conflicting values are refused with 416. */
export function parseUploadRange(headers: IncomingHttpHeaders): UploadRange {
  const lengthHeader = headers['content-length'];
  const contentLength = lengthHeader === undefined ? undefined : count(lengthHeader, 'Content-Length');
  const offsetHeader = headers[UploadHeaders.offset];
  let offset = typeof offsetHeader === 'string' ? count(offsetHeader, 'Upload-Offset') : undefined;
  let total: number | undefined;
  const rangeHeader = headers['content-range'];
  if (typeof rangeHeader === 'string') {
    const match = rangePattern.exec(rangeHeader.trim());
    if (!match) throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`invalid Content-Range ${JSON.stringify(rangeHeader)}`]);
    const start = count(match[1]!, 'range start');
    const end = count(match[2]!, 'range end');
    if (match[3] !== '*') total = count(match[3]!, 'range total');
    if (end < start || (total !== undefined && end >= total)) {
      throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`invalid Content-Range ${rangeHeader}`]);
    }
    if (contentLength !== undefined && end - start + 1 !== contentLength) {
      throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`Content-Range ${rangeHeader} does not match Content-Length ${contentLength}`]);
    }
    if (offset !== undefined && offset !== start) {
      throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`Upload-Offset ${offset} does not match Content-Range ${rangeHeader}`]);
    }
    offset = start;
  }
  return { contentLength, offset, total };
}
