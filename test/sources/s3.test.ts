import { mkdtemp, readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../support/qemu.ts';
import { sourceFixtures, type SourceFixtures } from './fixtures.ts';
import { importConfig, importInProcess, targetDir } from './run-import.ts';

let fx: SourceFixtures;
let server: S3rver;
let base: string;

beforeAll(async () => {
  fx = await sourceFixtures();
  server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: await mkdtemp(path.join(os.tmpdir(), 'cdi-s3rver-')), configureBuckets: [{ name: 'images', configs: [] }] });
  const address = (await server.run()) as AddressInfo;
  base = `http://127.0.0.1:${address.port}`;
  for (const file of [fx.files.qcow2, fx.files.rawZst]) {
    const res = await fetch(`${base}/images/golden/${file}`, { method: 'PUT', body: await readFile(path.join(fx.dir, file)) });
    expect(res.status).toBe(200);
  }
});

afterAll(async () => {
  await server?.close();
});

async function importS3(endpoint: string, keys = { accessKey: 'S3RVER', secretKey: 'S3RVER' }) {
  const { target } = await targetDir();
  return { ...(await importInProcess(importConfig({ source: 's3', endpoint, target: { kind: 'file', path: target }, ...keys }))), target };
}

describe('s3 source against s3rver', () => {
  it('imports qcow2 (random access through signed Range GETs) and zstd raw', async () => {
    for (const file of [fx.files.qcow2, fx.files.rawZst]) {
      const r = await importS3(`${base}/images/golden/${file}`);
      expect(r.failure, file).toBeUndefined();
      expect(await sha256File(r.target), file).toBe(fx.reference.digest);
      expect(r.status.percent()).toBe(100);
    }
  });

  it("reports S3's error code and message, and an unknown access key", async () => {
    const missing = await importS3(`${base}/images/golden/none.qcow2`);
    expect(missing.failure?.message).toBe('Unable to connect to s3 data source: s3 NoSuchKey: The specified key does not exist.');
    expect(missing.files).toEqual([]);
    const denied = await importS3(`${base}/images/golden/${fx.files.qcow2}`, { accessKey: 'NOBODY', secretKey: 'x' });
    expect(denied.failure?.message).toMatch(/^Unable to connect to s3 data source: s3 InvalidAccessKeyId/);
  });
});
