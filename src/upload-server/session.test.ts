import { describe, expect, it } from 'vitest';
import { CdiError } from '../api/errors.ts';
import { LocalEnv } from '../api/env.ts';
import { readUploadServerConfig } from './config.ts';
import { uploadFailure } from './session.ts';

/** A write error as node:fs raises it, wrapped the way the format engine reports it. */
function fsError(code: string, message: string): Error {
  const errno = Object.assign(new Error(`${code}: ${message}, write`), { code });
  return new Error('writing the target failed', { cause: errno });
}

describe('uploadFailure (what the upload server answers for a failed save)', () => {
  it('answers a full node disk under the node agent with CDI_ERR_NODE_DISK_FULL and 507', () => {
    for (const code of ['ENOSPC', 'EDQUOT']) {
      const err = uploadFailure(fsError(code, 'no space left on device'), true);
      expect(err.code).toBe('CDI_ERR_NODE_DISK_FULL');
      expect(err.httpStatus).toBe(507);
      expect(err.message).toBe("no space left on device: the node's disk holding the volumes is full, not the DataVolume");
    }
  });

  it('keeps a full volume file (EFBIG) under the node agent as the 400 capacity answer', () => {
    const err = uploadFailure(fsError('EFBIG', 'file too large'), true);
    expect(err.code).toBe('CDI_ERR_UPLOAD_TOO_LARGE');
    expect(err.httpStatus).toBe(400);
    expect(err.message).toMatch(/^Saving stream failed: effective image size is larger than the reported available storage: /);
  });

  it('answers ENOSPC on a volume of its own (a cluster pod) as CDI does: the volume is too small', () => {
    const err = uploadFailure(fsError('ENOSPC', 'no space left on device'));
    expect(err.code).toBe('CDI_ERR_UPLOAD_TOO_LARGE');
    expect(err.httpStatus).toBe(400);
  });

  it('passes other failures on as 500 and keeps an already mapped answer', () => {
    expect(uploadFailure(new Error('bad qcow2 header')).code).toBe('CDI_ERR_UPLOAD_SAVE');
    expect(uploadFailure(new Error('bad qcow2 header'), true).httpStatus).toBe(500);
    const mapped = new CdiError('CDI_ERR_NODE_DISK_FULL');
    expect(uploadFailure(mapped)).toBe(mapped);
  });
});

describe('readUploadServerConfig volumesOnNodeDisk', () => {
  it('is set only when the node agent hands the server its socket', () => {
    expect(readUploadServerConfig({}).volumesOnNodeDisk).toBe(false);
    expect(readUploadServerConfig({ [LocalEnv.listenSocket]: '/data/sockets/u.sock' }).volumesOnNodeDisk).toBe(true);
  });
});
