import { describe, expect, it } from 'vitest';
import { CdiError } from '../api/errors.ts';
import { envBool } from './env-bool.ts';

describe("envBool reads a worker variable as Go's strconv.ParseBool", () => {
  it.each(['1', 't', 'T', 'TRUE', 'true', 'True'])('%s is true', (value) => {
    expect(envBool({ PREALLOCATION: value }, 'PREALLOCATION')).toBe(true);
  });

  it.each(['0', 'f', 'F', 'FALSE', 'false', 'False'])('%s is false', (value) => {
    expect(envBool({ PREALLOCATION: value }, 'PREALLOCATION', true)).toBe(false);
  });

  it('takes the fallback when unset or empty', () => {
    expect(envBool({}, 'INSECURE_TLS')).toBe(false);
    expect(envBool({ INSECURE_TLS: '' }, 'INSECURE_TLS')).toBe(false);
    expect(envBool({}, 'INSECURE_TLS', true)).toBe(true);
  });

  it.each(['yes', 'no', 'on', 'tRUE', ' true', 'true ', '2', 'y'])('refuses %j with a coded error in CDI words', (value) => {
    let thrown: unknown;
    try {
      envBool({ PREALLOCATION: value }, 'PREALLOCATION');
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(CdiError);
    expect((thrown as CdiError).code).toBe('CDI_ERR_WORKER_ENV_BOOL');
    expect((thrown as CdiError).message).toBe(`the PREALLOCATION environment variable is with a wrong value "${value}"; should be "true" or "false"`);
    expect((thrown as CdiError).exitCode).toBe(1);
  });
});
