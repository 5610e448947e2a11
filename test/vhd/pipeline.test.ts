/**
 * VHD and VHDX through the whole engine (`convert()` and `cdi convert`): sniffed by magic, bare
 * and inside gzip, xz and zstd, in file and pipe mode, with capacity and checksum rules as for
 * qcow2. A fixed VHD has its magic only in its last 512 bytes: seekable inputs find it there;
 * in a pipe it is raw (as CDI and qemu-img's probe see it), footer included.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256File } from '../support/qemu.ts';
import type { CachedImage } from '../support/cached-image.ts';
import { codeOf, convertWith, exists, tempDir, type Feed } from '../format/helpers.ts';
import { RecordingSink } from '../format/recording-sink.ts';
import { built as builtVhd, vhdFixture } from './fixtures.ts';
import { built as builtVhdx, vhdxFixture } from '../vhdx/fixtures.ts';

const sh = promisify(execFile);
const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
let dir: string;
let cleanup: () => Promise<void>;
const images = new Map<string, CachedImage>();

const names = ['dynamic.vhd', 'fixed.vhd', 'dynamic.vhdx', 'fixed.vhdx'] as const;
const compressions = ['', '.gz', '.xz', '.zst'] as const;
const wrapperOf: Record<string, string[]> = { '': [], '.gz': ['gzip'], '.xz': ['xz'], '.zst': ['zstd'] };

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  for (const name of names) {
    const [base, ext] = name.split('.') as [string, 'vhd' | 'vhdx'];
    const img = ext === 'vhd' ? await builtVhd(vhdFixture(base)) : await builtVhdx(vhdxFixture(base));
    images.set(name, img);
    const file = path.join(dir, name);
    await copyFile(img.file, file);
    await sh('sh', ['-c', `pigz -c "$0" > "$0.gz" && xz -T0 -c "$0" > "$0.xz" && zstd -q -c "$0" > "$0.zst"`, file]);
  }
});
afterAll(() => cleanup());

const at = (name: string): string => path.join(dir, name);

describe.each(names)('%s', (name) => {
  it.each(compressions.flatMap((ext) => (['file', 'pipe'] as Feed[]).map((feed) => [ext, feed] as const)))('converts%s in %s mode', async (ext, feed) => {
    const out = at(`${name}${ext}.${feed}.img`);
    const result = await convertWith(feed, at(name + ext), { kind: 'file', path: out });
    const img = images.get(name)!;
    expect(result.compressions).toEqual(wrapperOf[ext]);
    expect(result.spillBytes).toBe(0);
    if (name === 'fixed.vhd' && (ext !== '' || feed === 'pipe')) {
      expect(result.format).toBe('raw');
      expect(await sha256File(out)).toBe(await sha256File(img.file));
      return;
    }
    expect(result.format).toBe(name.endsWith('.vhdx') ? 'vhdx' : 'vhd');
    expect(await sha256File(out)).toBe(img.reference);
  });
});

describe('capacity and checksums', () => {
  it.each(names.filter((n) => n !== 'fixed.vhd').flatMap((n) => (['file', 'pipe'] as Feed[]).map((feed) => [n, feed] as const)))(
    '%s larger than the capacity is refused before anything is written (%s)',
    async (name, feed) => {
      const sink = new RecordingSink(1024 * 1024);
      expect(await codeOf(convertWith(feed, at(`${name}.gz`), { kind: 'sink', sink }))).toBe('CDI_ERR_TOO_LARGE');
      expect(sink.maxEnd).toBe(0);
      expect(sink.finished).toBeUndefined();
    },
  );

  it.each(names.flatMap((n) => (['file', 'pipe'] as Feed[]).map((feed) => [n, feed] as const)))('%s checksum covers every byte of the source (%s)', async (name, feed) => {
    const digest = createHash('sha256').update(await readFile(at(name))).digest('hex');
    const out = at(`${name}.${feed}.sum.img`);
    const result = await convertWith(feed, at(name), { kind: 'file', path: out }, { checksum: `sha256:${digest}` });
    expect(result.checksum).toBe(`sha256:${digest}`);
    const bad = at(`${name}.${feed}.bad.img`);
    expect(await codeOf(convertWith(feed, at(name), { kind: 'file', path: bad }, { checksum: `sha256:${'0'.repeat(64)}` }))).toBe('CDI_ERR_CHECKSUM_MISMATCH');
    expect(await exists(bad)).toBe(false);
  });
});

function run(args: string[], stdinFile?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cdi, args, { stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (stdinFile && child.stdin) {
      child.stdin.on('error', () => {});
      void readFile(stdinFile).then((bytes) => child.stdin!.end(bytes));
    }
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('cdi convert', () => {
  it('converts a VHDX from stdin and a fixed VHD file', async () => {
    const a = await run(['convert', '-', at('cli-a.img')], at('dynamic.vhdx.zst'));
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^vhdx in zstd:/);
    expect(await sha256File(at('cli-a.img'))).toBe(images.get('dynamic.vhdx')!.reference);
    const b = await run(['convert', at('fixed.vhd'), at('cli-b.img')]);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^vhd:/);
    expect(await sha256File(at('cli-b.img'))).toBe(images.get('fixed.vhd')!.reference);
  });

  it('refuses a differencing VHD with a coded message, a non-zero exit and no target', async () => {
    const bytes = await readFile(at('dynamic.vhd'));
    const { patchFooters } = await import('./fixtures.ts');
    patchFooters(bytes, (footer) => footer.writeUInt32BE(4, 60));
    await writeFile(at('diff.vhd'), bytes);
    const r = await run(['convert', '-', at('cli-diff.img')], at('diff.vhd'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^cdi: CDI_ERR_VHD_UNSUPPORTED: VHD image is not supported: it is a differencing disk/);
    expect(await exists(at('cli-diff.img'))).toBe(false);
  });
});
