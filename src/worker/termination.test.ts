import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/format/helpers.ts';
import { failureMessage, successMessage, terminationLimit, terminationLogPath, truncateUtf8, writeTermination } from './termination.ts';

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

describe('termination message', () => {
  it('keeps the kubelet limit of 4096 bytes', () => {
    expect(terminationLimit).toBe(4096);
  });

  it('never cuts a multi-byte character at the limit', () => {
    // 'é' is 2 bytes and '€' 3: 4095 bytes of ASCII leave room for neither.
    for (const char of ['é', '€', '😀']) {
      const text = `${'a'.repeat(4095)}${char.repeat(10)}`;
      const cut = truncateUtf8(text, terminationLimit);
      expect(cut).toBe('a'.repeat(4095));
      expect(Buffer.from(cut, 'utf8').toString('utf8')).toBe(cut);
    }
    const euros = '€'.repeat(2000); // 6000 bytes: 1365 whole characters fit
    expect(truncateUtf8(euros, terminationLimit)).toBe('€'.repeat(1365));
    expect(truncateUtf8('short', terminationLimit)).toBe('short');
  });

  it('writes a failure on one line, cut to fit, with its suffix kept whole', () => {
    const failed = failureMessage(`Unable to process data: ${'é'.repeat(5000)}\nsecond line`, ' (stage: Info, 7 bytes done)');
    expect(Buffer.byteLength(failed)).toBeLessThanOrEqual(terminationLimit);
    expect(failed.endsWith('é (stage: Info, 7 bytes done)')).toBe(true);
    expect(failureMessage('first\nsecond\r\nthird')).toBe('first second third');
  });

  it('writes success as JSON, dropping labels and then shortening the message to fit', () => {
    expect(JSON.parse(successMessage({ message: 'Import Complete', labels: { a: 'b' } }))).toEqual({ message: 'Import Complete', labels: { a: 'b' } });
    const long = successMessage({ message: 'é'.repeat(5000), labels: { a: 'b' }, stage: 'Complete' });
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(terminationLimit);
    const parsed = JSON.parse(long) as { message: string; labels?: unknown; stage: string };
    expect(parsed.labels).toBeUndefined();
    expect(parsed.stage).toBe('Complete');
    expect(parsed.message).toMatch(/^é+$/);
    // Quotes double in JSON: the message is shortened until the JSON fits, not just its bytes.
    const quoted = successMessage({ message: '"'.repeat(5000) });
    expect(Buffer.byteLength(quoted)).toBeLessThanOrEqual(terminationLimit);
    expect(JSON.parse(quoted)).toEqual({ message: expect.stringMatching(/^"+$/) });
  });

  it('writes the file at the pod path or CDI_TERMINATION_LOG, never more than the limit', async () => {
    expect(terminationLogPath({})).toBe('/dev/termination-log');
    const file = path.join(dir, 'termination-log');
    expect(terminationLogPath({ CDI_TERMINATION_LOG: file })).toBe(file);
    await writeTermination(file, '€'.repeat(3000));
    const bytes = await readFile(file);
    expect(bytes.byteLength).toBe(4095);
    expect(bytes.toString('utf8')).toBe('€'.repeat(1365));
  });
});
