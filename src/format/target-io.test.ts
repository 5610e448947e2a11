import { describe, expect, it } from 'vitest';
import { targetError } from './target-io.ts';

const errno = (code: string) => Object.assign(new Error(`${code}: write failed`), { code });

describe('targetError', () => {
  it.each(['ENOSPC', 'EDQUOT', 'EFBIG'])('classifies %s as the volume being full', (code) => {
    const err = targetError('/data/disk.img', errno(code));
    expect(err.code).toBe('CDI_ERR_NO_SPACE');
    expect(err.httpStatus).toBe(400);
  });

  it('keeps other I/O failures as target errors', () => {
    expect(targetError('/data/disk.img', errno('EIO')).code).toBe('CDI_ERR_TARGET');
  });
});
