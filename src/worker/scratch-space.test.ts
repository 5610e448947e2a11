import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/format/helpers.ts';
import { scratchSpillLimit } from './scratch-space.ts';

const run = promisify(execFile);
const MiB = 2 ** 20;

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

describe('scratch spill limit', () => {
  it('is the free space df reports for the scratch directory, less a tenth of its file system', async () => {
    const { stdout } = await run('df', ['-B1', '--output=avail,size', dir]);
    const [avail, size] = stdout.trim().split('\n')[1]!.trim().split(/\s+/).map(Number) as [number, number];
    const limit = await scratchSpillLimit(dir, 'importer');
    expect(Math.abs(limit - Math.max(0, avail - Math.ceil(size / 10)))).toBeLessThan(64 * MiB); // others write on this disk too
  });

  it('refuses a scratch directory it cannot look at with CDI_ERR_WORKER_CONFIG', async () => {
    const missing = path.join(dir, 'missing');
    await expect(scratchSpillLimit(missing, 'upload server')).rejects.toMatchObject({
      code: 'CDI_ERR_WORKER_CONFIG',
      message: expect.stringMatching(new RegExp(`^invalid upload server configuration: scratch directory ${missing}: ENOENT`)),
    });
  });
});
