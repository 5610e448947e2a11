import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNginx, type Nginx } from '../support/nginx.ts';
import { sha256File } from '../support/qemu.ts';
import { grownDigest, sourceFixtures, type SourceFixtures } from '../sources/fixtures.ts';
import { targetDir } from '../sources/run-import.ts';

const run = promisify(execFile);
const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
let fx: SourceFixtures;
let nginx: Nginx;

beforeAll(async () => {
  fx = await sourceFixtures();
  nginx = await startNginx({ root: fx.dir });
});

afterAll(async () => {
  await nginx?.stop();
});

describe('cdi import', () => {
  it('runs the worker from flags, with basic auth from the environment', async () => {
    const { target } = await targetDir();
    const { stdout } = await run(cdi, ['import', '--source', 'http', '--endpoint', `${nginx.auth}/${fx.files.qcow2Gz}`, '--target', target, '--size', '12Mi'], {
      env: { ...process.env, IMPORTER_ACCESS_KEY_ID: nginx.user, IMPORTER_SECRET_KEY: nginx.password },
    });
    expect(stdout).toMatch(/^Import Complete: qcow2 in gzip, 8388608 bytes virtual/);
    expect((await stat(target)).size).toBe(12 << 20);
    expect(await sha256File(target)).toBe(await grownDigest(path.join(fx.dir, fx.files.qcow2), 12 << 20));
  });

  it('exits non-zero with the coded CDI message', async () => {
    const { target } = await targetDir();
    const err = await run(cdi, ['import', '--source', 'http', '--endpoint', `${nginx.plain}/missing`, '--target', target]).catch((e: unknown) => e) as { code: number; stderr: string };
    expect(err.code).toBe(1);
    expect(err.stderr).toContain('cdi: CDI_ERR_HTTP_STATUS: Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found');
  });
});
