/** `cdi convert` end to end: exit 0 with the right bytes, or a non-zero exit with `cdi: CDI_ERR_X: message`. */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFixtures, type FormatFixtures } from '../support/fixtures-format.ts';
import { qemuConvertToRaw, sha256File } from '../support/qemu.ts';
import { exists, tempDir } from './helpers.ts';

const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
let fx: FormatFixtures;
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  fx = await formatFixtures();
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

function run(args: string[], stdinFile?: string, command = cdi): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    if (stdinFile && child.stdin) {
      child.stdin.on('error', () => {});
      createReadStream(stdinFile).pipe(child.stdin);
    }
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const out = (name: string): string => path.join(dir, name);

describe('cdi convert succeeds', () => {
  it('converts a qcow2 file (random access) and a compressed qcow2 from stdin', async () => {
    const a = await run(['convert', fx.file('small-zlib.qcow2'), out('a.img')]);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^qcow2: 6357504 bytes virtual/);
    expect(await sha256File(out('a.img'))).toBe(fx.reference['small-zlib.qcow2']);
    const b = await run(['convert', '--size', '8Mi', '-', out('b.img')], fx.file('small-zstd.qcow2.xz'));
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^qcow2 in xz:/);
    expect((await stat(out('b.img'))).size).toBe(8 * 2 ** 20);
  });

  it('converts a VDI file and a VDI from stdin', async () => {
    const a = await run(['convert', fx.file('tiny.vdi'), out('vdi-a.img')]);
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^vdi: /);
    const b = await run(['convert', '-', out('vdi-b.img')], fx.file('tiny.vdi'));
    expect(b.code).toBe(0);
    expect(await sha256File(out('vdi-a.img'))).toBe(await sha256File(out('vdi-b.img')));
    expect(await sha256File(out('vdi-a.img'))).toBe(await sha256File(fx.file('tiny.raw')));
  });

  it('converts a vmdk from stdin in one pass', async () => {
    const r = await run(['convert', '-', out('v.img')], fx.file('tiny.vmdk'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^vmdk: \d+ bytes virtual/);
    expect(await sha256File(out('v.img'))).toBe(fx.reference['tiny.raw']);
  });

  it('converts a qcow2 and an xz qcow2 fed through a real pipe, as qemu-img converts the qcow2', async () => {
    // `cat | cdi`: stdin is a pipe made by the shell (Node's own 'pipe' stdio is a socket pair)
    const piped = (input: string, output: string): Promise<{ code: number | null; stdout: string; stderr: string }> =>
      run(['-c', 'cat "$1" | exec "$0" convert --no-progress - "$2"', cdi, input, output], undefined, 'sh');
    await qemuConvertToRaw(fx.file('small.qcow2'), out('pipe-ref.raw'));
    const a = await piped(fx.file('small.qcow2'), out('pipe-a.img'));
    expect(a.stderr).toBe('');
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^qcow2: 6357504 bytes virtual/);
    expect(await sha256File(out('pipe-a.img'))).toBe(await sha256File(out('pipe-ref.raw')));
    const b = await piped(fx.file('small.qcow2.xz'), out('pipe-b.img'));
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/^qcow2 in xz:/);
    expect(await sha256File(out('pipe-b.img'))).toBe(await sha256File(out('pipe-ref.raw')));
    // and through Node's socket pair, streamed
    const c = await run(['convert', '--no-progress', '-', out('pipe-c.img')], fx.file('small.qcow2'));
    expect(c.code).toBe(0);
    expect(await sha256File(out('pipe-c.img'))).toBe(await sha256File(out('pipe-ref.raw')));
  });

  it('reports a qcow2 cut short in a real pipe as truncated', async () => {
    const r = await run(['-c', 'head -c 2000000 "$1" | exec "$0" convert --no-progress - "$2"', cdi, fx.file('small.qcow2'), out('pipe-cut.img')], undefined, 'sh');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^cdi: CDI_ERR_TRUNCATED: .+\n$/);
    expect(await exists(out('pipe-cut.img'))).toBe(false);
  });

  it('extracts an archive into a directory', async () => {
    const p = tar.pack();
    p.entry({ name: 'disk.img' }, Buffer.alloc(4096, 7));
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    await writeFile(out('a.tar'), Buffer.concat(chunks));
    const r = await run(['convert', '--content-type', 'archive', out('a.tar'), out('extracted')]);
    expect(r.code).toBe(0);
    expect(await readdir(out('extracted'))).toEqual(['disk.img']);
  });
});

describe('cdi convert fails with a coded message and a non-zero exit', () => {
  const cases: Array<[string, () => Promise<string[]>, string, string?]> = [
    ['empty input', async () => [fx.file('empty.raw')], 'CDI_ERR_EMPTY_INPUT'],
    ['a truncated stream', async () => ['-'], 'CDI_ERR_TRUNCATED', 'cut.gz'],
    ['an empty gzip stream from stdin', async () => ['-'], 'CDI_ERR_EMPTY_INPUT', 'empty.gz'],
    ['a gzip bomb past the capacity', async () => ['--capacity', '8Mi', fx.file('bomb.gz')], 'CDI_ERR_TOO_LARGE'],
    ['an xz bomb from stdin past the capacity', async () => ['--capacity', '8Mi', '-'], 'CDI_ERR_TOO_LARGE', 'bomb.xz'],
    ['a zstd bomb past the capacity', async () => ['--capacity', '8Mi', fx.file('bomb.zst')], 'CDI_ERR_TOO_LARGE'],
    ['an image larger than the capacity', async () => ['--capacity', '1Mi', fx.file('small.qcow2')], 'CDI_ERR_TOO_LARGE'],
    ['a checksum mismatch', async () => ['--checksum', `sha256:${'1'.repeat(64)}`, fx.file('small.raw.zst')], 'CDI_ERR_CHECKSUM_MISMATCH'],
    ['a vmdk descriptor naming another file', async () => [fx.file('flat.vmdk')], 'CDI_ERR_VMDK_EXTERNAL_FILE'],
    ['a tar with a traversal entry', async () => ['--content-type', 'archive', await evilTar()], 'CDI_ERR_ARCHIVE_TRAVERSAL'],
    ['a bad size', async () => ['--size', '12 parsecs', fx.file('tiny.raw')], 'CDI_ERR_USAGE'],
  ];

  it.each(cases)('%s', async (label, args, code, stdin) => {
    let stdinFile: string | undefined;
    if (stdin === 'cut.gz') {
      stdinFile = out('cut.gz');
      await writeFile(stdinFile, (await readFile(fx.file('small.raw.gz'))).subarray(0, 500_000));
    } else if (stdin) {
      stdinFile = fx.file(stdin);
    }
    const target = out(`fail-${label.replace(/\W+/g, '-')}`);
    const r = await run(['convert', ...(await args()), target], stdinFile);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`^cdi: ${code}: .+\\n$`));
    if (!args.toString().includes('archive')) expect(await exists(target)).toBe(false);
  });
});

async function evilTar(): Promise<string> {
  const p = tar.pack();
  p.entry({ name: '../evil' }, 'x');
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  const file = out('evil.tar');
  await mkdir(dir, { recursive: true });
  await writeFile(file, Buffer.concat(chunks));
  return file;
}
