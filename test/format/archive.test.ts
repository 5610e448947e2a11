/**
 * contentType archive: tar (bare or compressed) extracted into a directory, and every way an
 * entry could land outside it refused with nothing written outside.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert, type ConvertOptions } from '../../src/format/index.ts';
import { formatFixtures, patterned, type FormatFixtures } from '../support/fixtures-format.ts';
import { allocatedBytes, codeOf, tempDir } from './helpers.ts';

type Entry = Partial<tar.Header> & { name: string; body?: Uint8Array };

let dir: string;
let cleanup: () => Promise<void>;
let fx: FormatFixtures;
let caseNumber = 0;
const MiB = 2 ** 20;

beforeAll(async () => {
  fx = await formatFixtures();
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

async function pack(entries: Entry[]): Promise<Buffer> {
  const p = tar.pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer);
  })();
  for (const { body, ...header } of entries) {
    await new Promise<void>((resolve, reject) => {
      p.entry({ ...header, size: body?.byteLength ?? 0 }, body === undefined ? '' : Buffer.from(body), (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A fresh case directory holding the target directory `out`, so escapes show up as siblings. */
async function newCase(): Promise<{ root: string; target: string }> {
  const root = path.join(dir, `case-${++caseNumber}`);
  await mkdir(root);
  return { root, target: path.join(root, 'out') };
}

async function extract(bytes: Uint8Array, target: string, options: Partial<ConvertOptions> = {}, chunk = 65536) {
  async function* stream(): AsyncGenerator<Uint8Array> {
    for (let at = 0; at < bytes.byteLength; at += chunk) yield bytes.subarray(at, at + chunk);
  }
  return convert({ kind: 'stream', stream: stream() }, { kind: 'directory', path: target }, { contentType: 'archive', ...options });
}

const disk = Buffer.concat([patterned(MiB, 5), Buffer.alloc(3 * MiB), patterned(100_000, 6)]);
const good: Entry[] = [
  { name: 'disk/', type: 'directory', mode: 0o755 },
  { name: 'disk/disk.img', mode: 0o644, body: disk },
  { name: './disk/run.sh', mode: 0o755, body: new TextEncoder().encode('#!/bin/sh\necho hi\n') },
  { name: 'disk/current', type: 'symlink', linkname: 'disk.img' },
  { name: 'disk/again.img', type: 'link', linkname: 'disk/disk.img' },
  { name: 'pipe', type: 'fifo' },
  { name: 'null', type: 'character-device', devmajor: 1, devminor: 3 },
];

describe('extraction', () => {
  it.each(['', 'gz', 'xz', 'zst'])('extracts a tar%s', async (compression) => {
    let bytes: Uint8Array = await pack(good);
    if (compression === 'gz') bytes = zlib.gzipSync(bytes);
    if (compression === 'zst') bytes = zlib.zstdCompressSync(bytes);
    if (compression === 'xz') bytes = execFileSync('xz', ['-c'], { input: bytes, maxBuffer: 64 * MiB });
    const { target } = await newCase();
    const checksum = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    const result = await extract(bytes, target, { checksum }, 7777);
    expect(result.format).toBe('tar');
    expect(result.compressions).toEqual(compression === '' ? [] : [{ gz: 'gzip', xz: 'xz', zst: 'zstd' }[compression]]);
    expect(result.checksum).toBe(checksum);
    expect((await readdir(target)).sort()).toEqual(['disk']);
    expect(createHash('sha256').update(await readFile(path.join(target, 'disk/disk.img'))).digest('hex')).toBe(createHash('sha256').update(disk).digest('hex'));
    expect(await allocatedBytes(path.join(target, 'disk/disk.img'))).toBeLessThan(disk.byteLength);
    expect((await stat(path.join(target, 'disk/run.sh'))).mode & 0o777).toBe(0o755);
    expect(await readlink(path.join(target, 'disk/current'))).toBe('disk.img');
    expect((await stat(path.join(target, 'disk/again.img'))).ino).toBe((await stat(path.join(target, 'disk/disk.img'))).ino);
  });

  it('refuses input that is not a tar archive', async () => {
    const { target } = await newCase();
    expect(await codeOf(extract(await readFile(fx.file('tiny.qcow2')), target))).toBe('CDI_ERR_ARCHIVE_INVALID');
  });

  it.each([
    ['a component over 255 bytes', `disk/${'n'.repeat(256)}.img`],
    ['a pax path over 4095 bytes', `${'d/'.repeat(2100)}disk.img`],
  ])('refuses an entry name with %s as an archive error, leaving nothing', async (_what, name) => {
    const { target } = await newCase();
    const bytes = await pack([{ name: 'ok.txt', body: new TextEncoder().encode('fine') }, { name, body: new TextEncoder().encode('x') }]);
    expect(await codeOf(extract(bytes, target))).toBe('CDI_ERR_ARCHIVE_INVALID');
    expect(await lstat(target).catch(() => undefined)).toBeUndefined();
  });

  it('refuses a symlink whose target is too long to create', async () => {
    const { target } = await newCase();
    const bytes = await pack([{ name: 'link', type: 'symlink', linkname: `${'l'.repeat(300)}` }]);
    expect(await codeOf(extract(bytes, target))).toBe('CDI_ERR_ARCHIVE_INVALID');
  });

  it('refuses a truncated archive and removes what it extracted', async () => {
    const { target } = await newCase();
    const bytes = await pack(good);
    expect(await codeOf(extract(bytes.subarray(0, 2 * MiB), target))).toBe('CDI_ERR_TRUNCATED');
    expect(await lstat(target).catch(() => undefined)).toBeUndefined();
  });

  it('refuses an archive larger than the capacity and removes what it extracted', async () => {
    const { target } = await newCase();
    expect(await codeOf(extract(await pack(good), target, { capacity: 2 * MiB }))).toBe('CDI_ERR_TOO_LARGE');
    expect(await lstat(target).catch(() => undefined)).toBeUndefined();
  });

  it('removes what it extracted on a checksum mismatch, keeping what was there before', async () => {
    const { target } = await newCase();
    await mkdir(target);
    await writeFile(path.join(target, 'lost+found'), '');
    expect(await codeOf(extract(await pack(good), target, { checksum: `md5:${'0'.repeat(32)}` }))).toBe('CDI_ERR_CHECKSUM_MISMATCH');
    expect(await readdir(target)).toEqual(['lost+found']);
  });
});

describe('entries that would land outside the directory', () => {
  const evil: Array<[string, Entry[]]> = [
    ['a .. name', [{ name: '../evil.txt', body: new Uint8Array(3) }]],
    ['a .. inside a name', [{ name: 'a/../../evil.txt', body: new Uint8Array(3) }]],
    ['an absolute name', [{ name: '/tmp/cdi-evil.txt', body: new Uint8Array(3) }]],
    ['a symlink pointing out', [{ name: 'escape', type: 'symlink', linkname: '../../outside' }]],
    ['an absolute symlink', [{ name: 'passwd', type: 'symlink', linkname: '/etc/passwd' }]],
    ['a hard link pointing out', [{ name: 'hl', type: 'link', linkname: '../outside' }]],
    ['an absolute hard link', [{ name: 'hl', type: 'link', linkname: '/etc/passwd' }]],
    ['a write through chained symlinks', [
      { name: 'sub/', type: 'directory' },
      { name: 'sub/b', type: 'symlink', linkname: '..' },
      { name: 'c', type: 'symlink', linkname: 'sub/b/..' },
      { name: 'c/evil.txt', body: new Uint8Array(3) },
    ]],
    ['a directory through chained symlinks', [
      { name: 'sub/', type: 'directory' },
      { name: 'sub/b', type: 'symlink', linkname: '..' },
      { name: 'c', type: 'symlink', linkname: 'sub/b/..' },
      { name: 'c/newdir/', type: 'directory' },
    ]],
  ];

  it.each(evil)('refuses %s', async (_label, entries) => {
    const { root, target } = await newCase();
    const bytes = await pack([{ name: 'fine.txt', body: new Uint8Array(10) }, ...entries]);
    expect(await codeOf(extract(bytes, target))).toBe('CDI_ERR_ARCHIVE_TRAVERSAL');
    expect(await readdir(root)).toEqual([]);
    await expect(lstat('/tmp/cdi-evil.txt')).rejects.toThrow();
  });
});
