/**
 * Every VMDK fixture converted by both readers (random access from the file; one pass in one
 * piece, in 7-byte (4099 for big images) and random chunks, and byte by byte for tiny images) must match
 * `qemu-img convert -O raw`; and the whole pipeline finds VMDK inside gzip, xz and zstd.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert, openFileInput, type ConvertInput } from '../../src/format/index.ts';
import { openVmdkRandom, openVmdkStream } from '../../src/format/vmdk/index.ts';
import { bufferInput, chunked, convertToFile, fileChunks, fileInput, type Chunking } from '../qcow2/harness.ts';
import { sha256File } from '../support/qemu.ts';
import { builtVmdk, vmdkFixture, vmdkFixtures } from './fixtures.ts';

const run = promisify(execFile);
let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vmdk-convert-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(vmdkFixtures.map((f) => [f.name, f] as const))('vmdk %s', (name, fixture) => {
  it('random-access reader matches qemu-img', async () => {
    const img = await builtVmdk(fixture);
    const input = await fileInput(img.file);
    try {
      const reader = await openVmdkRandom(input, {});
      expect(await convertToFile(reader, path.join(work, `${name}-random.raw`))).toBe(img.reference);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
  });

  const chunkings: Chunking[] = ['whole', fixture.big ? 4099 : 7, 'random', ...(fixture.tiny ? [1 as const] : [])];
  it.each(chunkings)('one-pass reader matches qemu-img, chunks %s', async (chunking) => {
    const img = await builtVmdk(fixture);
    const reader = await openVmdkStream(await fileChunks(img.file, chunking), { scratchDir: work });
    expect(await convertToFile(reader, path.join(work, `${name}-stream.raw`))).toBe(img.reference);
    if (fixture.noSpill) expect(reader.spillBytes()).toBe(0);
    if (fixture.spills) expect(reader.spillBytes()).toBeGreaterThan(0);
  });
});

describe('vmdk through the pipeline', () => {
  const wrappers = [
    ['gz', 'pigz -6 -c'],
    ['xz', 'xz -T0 -c'],
    ['zst', 'zstd -q -c'],
  ] as const;

  it.each(wrappers)('finds a streamOptimized image inside %s and converts it in one pass', async (ext, command) => {
    const img = await builtVmdk(vmdkFixture('stream-optimized'));
    const wrapped = path.join(work, `stream.vmdk.${ext}`);
    await run('sh', ['-c', `${command} "$0" > "$1"`, img.file, wrapped]);
    const target = path.join(work, `wrapped-${ext}.raw`);
    const result = await convert({ kind: 'stream', stream: createReadStream(wrapped, { highWaterMark: 4099 }) }, { kind: 'file', path: target }, { contentType: 'kubevirt', scratchDir: work });
    expect(result).toMatchObject({ format: 'vmdk', compressions: [ext === 'gz' ? 'gzip' : ext === 'zst' ? 'zstd' : 'xz'], spillBytes: 0 });
    expect(await sha256File(target)).toBe(img.reference);
  });

  it.each(['sparse-in-place', 'esxi-stream'])('converts %s from a file (random access) and from a pipe, the same bytes', async (name) => {
    const img = await builtVmdk(vmdkFixture(name));
    const fromFile = path.join(work, `${name}-file.img`);
    const input = await openFileInput(img.file);
    try {
      const result = await convert({ kind: 'random', input }, { kind: 'file', path: fromFile }, { contentType: 'kubevirt' });
      expect(result.format).toBe('vmdk');
    } finally {
      await input.close();
    }
    expect(await sha256File(fromFile)).toBe(img.reference);
    const fromPipe = path.join(work, `${name}-pipe.img`);
    const bytes = await readFile(img.file);
    await convert({ kind: 'stream', stream: (async function* () { yield bytes; })() }, { kind: 'file', path: fromPipe }, { contentType: 'kubevirt', scratchDir: work });
    expect(await sha256File(fromPipe)).toBe(img.reference);
  });

  it.each(['file', 'pipe'] as const)('verifies a checksum of the vmdk bytes and refuses an image larger than the capacity (%s)', async (feed) => {
    const img = await builtVmdk(vmdkFixture('stream-optimized'));
    const bytes = await readFile(img.file);
    const input = async (): Promise<ConvertInput> => (feed === 'pipe' ? { kind: 'stream', stream: chunked(bytes, 65536) } : { kind: 'random', input: bufferInput(bytes) });
    const sum = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const target = path.join(work, `checked-${feed}.img`);
    const ok = await convert(await input(), { kind: 'file', path: target }, { contentType: 'kubevirt', checksum: sum, scratchDir: work });
    expect(ok.checksum).toBe(sum);
    expect(await sha256File(target)).toBe(img.reference);
    const wrong = path.join(work, `wrong-${feed}.img`);
    await expect(convert(await input(), { kind: 'file', path: wrong }, { contentType: 'kubevirt', checksum: `sha256:${'0'.repeat(64)}`, scratchDir: work }))
      .rejects.toMatchObject({ code: 'CDI_ERR_CHECKSUM_MISMATCH' });
    await expect(stat(wrong)).rejects.toThrow();
    const small = path.join(work, `small-${feed}.img`);
    await expect(convert(await input(), { kind: 'file', path: small }, { contentType: 'kubevirt', capacity: 4 * 1024 * 1024, scratchDir: work }))
      .rejects.toMatchObject({ code: 'CDI_ERR_TOO_LARGE' });
    await expect(stat(small)).rejects.toThrow();
  });
});
