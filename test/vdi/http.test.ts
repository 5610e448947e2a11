/**
 * VDI over HTTP through the importer: a server that honours Range is read random-access (header
 * and block map by range, data blocks in guest order) even through dropped connections; one that
 * does not is read in one pass. Both match `qemu-img convert -O raw`.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBadServer, type BadServer } from '../sources/bad-server.ts';
import { importConfig, importInProcess, targetDir } from '../sources/run-import.ts';
import { sha256File } from '../support/qemu.ts';
import { built, fixtures } from './fixtures.ts';

let root: string;
let server: BadServer;
let reference: string;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'vdi-http-'));
  const img = await built(fixtures.find((f) => f.name === 'dynamic-reverse')!);
  await copyFile(img.file, path.join(root, 'disk.vdi'));
  reference = img.reference;
  server = await startBadServer(root, { drops: 2, dropAfter: 3 << 20 });
});
afterAll(async () => {
  await server?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('vdi over http', () => {
  it.each(['ok', 'flaky', 'no-ranges'])('imports from /%s/ like qemu-img', async (route) => {
    const before = server.requests.length;
    const { dir, target } = await targetDir();
    try {
      const run = await importInProcess(importConfig({ source: 'http', endpoint: `${server.url}/${route}/disk.vdi`, target: { kind: 'file', path: target } }));
      expect(run.failure).toBeUndefined();
      expect(await sha256File(target)).toBe(reference);
      // one pass is the single GET; random access reads the header, the map and the data by range
      const requests = server.requests.slice(before);
      if (route === 'no-ranges') expect(requests).toHaveLength(1);
      else expect(requests.filter((r) => r.range !== undefined && r.range !== 'bytes=0-').length).toBeGreaterThan(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
