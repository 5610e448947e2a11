import { describe, expect, it } from 'vitest';
import { CdiError, asCdiError, errorTable, isCdiError } from './errors.ts';

describe('error table', () => {
  it('renders CDI texts with their arguments', () => {
    const err = new CdiError('CDI_ERR_TOO_LARGE', [2147483648, 1048576]);
    expect(err.message).toBe(
      'virtual image size 2147483648 is larger than the reported available storage 1048576. A larger PVC is required',
    );
    expect(err.exitCode).toBe(4);
    expect(err.httpStatus).toBe(400);
    expect(isCdiError(err, 'CDI_ERR_TOO_LARGE')).toBe(true);
  });

  it('wraps foreign errors as internal', () => {
    const err = asCdiError(new Error('boom'));
    expect(err.code).toBe('CDI_ERR_INTERNAL');
    expect(err.message).toBe('internal error: boom');
  });

  it('gives every code a non-zero exit and an HTTP error status', () => {
    for (const row of Object.values(errorTable)) {
      expect(row.exit).toBeGreaterThan(0);
      expect(row.http).toBeGreaterThanOrEqual(400);
    }
  });
});
