/**
 * Bad inputs end with a coded error, and the target never looks complete: a file we created is
 * gone, a file that existed is emptied, a sink is aborted, nothing is written past the capacity.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convert } from '../../src/format/index.ts';
import { XzMemoryLimitMiB } from '../../src/format/xz.ts';
import { formatFixtures, type FormatFixtures } from '../support/fixtures-format.ts';
import { codeOf, convertWith, exists, tempDir, type Feed } from './helpers.ts';
import { RecordingSink } from './recording-sink.ts';

let fx: FormatFixtures;
let dir: string;
let cleanup: () => Promise<void>;
const MiB = 2 ** 20;

beforeAll(async () => {
  fx = await formatFixtures();
  ({ dir, cleanup } = await tempDir());
});
afterAll(() => cleanup());

const feeds = ['file', 'pipe'] as const;
const out = (name: string): string => path.join(dir, name);

async function cut(name: string, bytes: number): Promise<string> {
  const file = out(`cut-${bytes}-${name}`);
  await writeFile(file, (await readFile(fx.file(name))).subarray(0, bytes));
  return file;
}

describe('empty input', () => {
  it.each(feeds.flatMap((feed) => ['empty.raw', 'empty.gz'].map((name) => [name, feed] as const)))('%s in %s mode', async (name, feed) => {
    const target = out(`empty-${feed}-${name}.img`);
    expect(await codeOf(convertWith(feed, fx.file(name), { kind: 'file', path: target }))).toBe('CDI_ERR_EMPTY_INPUT');
    expect(await exists(target)).toBe(false);
  });
});

describe('truncated input', () => {
  it.each(feeds.flatMap((feed) => ['small.raw.gz', 'small.raw.xz', 'small.raw.zst', 'small-zlib.qcow2.gz'].map((name) => [name, feed] as const)))(
    '%s cut short in %s mode',
    async (name, feed) => {
      const file = await cut(name, 1_000_000);
      const target = out(`trunc-${feed}-${name}.img`);
      expect(await codeOf(convertWith(feed, file, { kind: 'file', path: target }))).toBe('CDI_ERR_TRUNCATED');
      expect(await exists(target)).toBe(false);
    },
  );

  it.each(feeds)('a qcow2 cut short in %s mode', async (feed) => {
    const file = await cut('small.qcow2', 2_000_000);
    const target = out(`trunc-${feed}.qcow2.img`);
    expect(['CDI_ERR_TRUNCATED', 'CDI_ERR_QCOW2_OUT_OF_BOUNDS']).toContain(await codeOf(convertWith(feed, file, { kind: 'file', path: target })));
    expect(await exists(target)).toBe(false);
  });

  it('a raw stream shorter than its announced size', async () => {
    const bytes = await readFile(fx.file('tiny.raw'));
    async function* body(): AsyncGenerator<Uint8Array> {
      yield bytes.subarray(0, 100_000);
    }
    const sink = new RecordingSink(Infinity);
    expect(await codeOf(convert({ kind: 'stream', stream: body(), size: bytes.byteLength }, { kind: 'sink', sink }, { contentType: 'kubevirt' }))).toBe('CDI_ERR_TRUNCATED');
    expect(sink.aborted).toBe(true);
    expect(sink.finished).toBeUndefined();
  });
});

describe('decompression bombs are bounded by the capacity', () => {
  it.each(['bomb.gz', 'bomb.xz', 'bomb.zst'])('%s', async (name) => {
    const sink = new RecordingSink(8 * MiB);
    expect(await codeOf(convertWith('pipe', fx.file(name), { kind: 'sink', sink }))).toBe('CDI_ERR_TOO_LARGE');
    expect(sink.maxEnd).toBeLessThanOrEqual(8 * MiB);
    expect(sink.aborted).toBe(true);
    const target = out(`${name}.img`);
    expect(await codeOf(convertWith('file', fx.file(name), { kind: 'file', path: target }, { capacity: 8 * MiB }))).toBe('CDI_ERR_TOO_LARGE');
    expect(await exists(target)).toBe(false);
  });
});

describe('images larger than the target', () => {
  it.each(feeds.flatMap((feed) => ['small.qcow2', 'small.raw', 'small.iso', 'small-zstd.qcow2.xz'].map((name) => [name, feed] as const)))(
    '%s in %s mode is refused before anything is written',
    async (name, feed) => {
      const sink = new RecordingSink(512 * 1024);
      expect(await codeOf(convertWith(feed, fx.file(name), { kind: 'sink', sink }))).toBe('CDI_ERR_TOO_LARGE');
      expect(sink.maxEnd).toBe(0);
    },
  );

  it('an xz stream declaring a dictionary past the memory limit is refused with a coded error, nothing written', async () => {
    const file = out('huge-dictionary.raw.xz');
    // 64 KiB of data whose header asks the decoder for a 320 MiB dictionary
    await writeFile(file, execFileSync('xz', ['-c', '-T1', '--lzma2=dict=320MiB'], { input: Buffer.alloc(64 * 1024, 7) }));
    expect((await stat(file)).size).toBeLessThan(4096);
    for (const feed of feeds) {
      const target = out(`huge-dictionary-${feed}.img`);
      const err = await convertWith(feed, file, { kind: 'file', path: target }).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe('CDI_ERR_DECOMPRESS_MEMORY');
      expect(err?.message).toBe(`cannot decompress xz stream: it needs more memory than the limit of ${XzMemoryLimitMiB} MiB (a dictionary larger than any xz preset uses)`);
      expect(await exists(target)).toBe(false);
    }
  });

  it('an xz image refused before its first extent leaves no xz process or pipe behind', async () => {
    const scratch = out('xz-tmp');
    await mkdir(scratch, { recursive: true });
    const before = process.env.TMPDIR;
    process.env.TMPDIR = scratch;
    try {
      for (const feed of feeds) {
        expect(await codeOf(convertWith(feed, fx.file('small-zstd.qcow2.xz'), { kind: 'sink', sink: new RecordingSink(512 * 1024) }))).toBe('CDI_ERR_TOO_LARGE');
      }
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    expect((await readdir(scratch)).filter((name) => name.startsWith('cdi-xz-'))).toEqual([]);
  });

  it('compressed raw, whose size is known only at the end, stops at the capacity', async () => {
    const sink = new RecordingSink(3 * MiB);
    const error = await convertWith('pipe', fx.file('small.raw.gz'), { kind: 'sink', sink }).catch((err: Error) => err);
    expect((error as Error).message).toMatch(/^virtual image size \d+ is larger than the reported available storage 3145728\. A larger PVC is required$/);
    expect(sink.maxEnd).toBeLessThanOrEqual(3 * MiB);
    expect(sink.finished).toBeUndefined();
  });
});

describe('vmdk descriptors naming another file', () => {
  it.each(feeds)('flat.vmdk (monolithicFlat) in %s mode', async (feed) => {
    const target = out(`flat.vmdk-${feed}.img`);
    const error = await convertWith(feed, fx.file('flat.vmdk'), { kind: 'file', path: target }).catch((err: Error) => err);
    expect((error as { code?: string }).code).toBe('CDI_ERR_VMDK_EXTERNAL_FILE');
    expect((error as Error).message).toMatch(/refers to the file flat-flat\.vmdk outside the image/);
    expect(await exists(target)).toBe(false);
  });
});

describe('checksums', () => {
  const digest = async (algorithm: string, name: string): Promise<string> =>
    `${algorithm}:${createHash(algorithm).update(await readFile(fx.file(name))).digest('hex')}`;

  it.each([
    ['md5', 'small.qcow2', 'file'],
    ['sha1', 'small.raw.xz', 'pipe'],
    ['sha256', 'small-zlib.qcow2.gz', 'file'],
    ['sha512', 'small.iso', 'pipe'],
  ] as const)('%s of %s in %s mode is verified', async (algorithm, name, feed) => {
    const checksum = await digest(algorithm, name);
    const result = await convertWith(feed, fx.file(name), { kind: 'file', path: out(`sum-${name}.img`) }, { checksum });
    expect(result.checksum).toBe(checksum);
  });

  it.each(feeds.flatMap((feed) => ['small.qcow2', 'small.raw.gz'].map((name) => [name, feed] as const)))(
    'a mismatch on %s in %s mode leaves the target incomplete',
    async (name, feed) => {
      const wrong = await digest('sha256', 'tiny.raw');
      const created = out(`mismatch-${feed}-${name}.img`);
      expect(await codeOf(convertWith(feed, fx.file(name), { kind: 'file', path: created }, { checksum: wrong }))).toBe('CDI_ERR_CHECKSUM_MISMATCH');
      expect(await exists(created)).toBe(false);
      const existing = out(`mismatch-existing-${feed}-${name}.img`);
      await writeFile(existing, 'previous contents');
      expect(await codeOf(convertWith(feed, fx.file(name), { kind: 'file', path: existing }, { checksum: wrong }))).toBe('CDI_ERR_CHECKSUM_MISMATCH');
      expect((await stat(existing)).size).toBe(0);
    },
  );

  it('a malformed checksum is refused before anything is written', async () => {
    const target = out('badsum.img');
    for (const checksum of ['sha256:xyz', 'crc32:00000000', 'sha256', `md5:${'0'.repeat(31)}`]) {
      expect(await codeOf(convertWith('file', fx.file('small.raw'), { kind: 'file', path: target }, { checksum }))).toBe('CDI_ERR_CHECKSUM_FORMAT');
    }
    expect(await exists(target)).toBe(false);
  });
});

describe('block-device targets', () => {
  const filled = async (name: string, byte: number, size: number): Promise<string> => {
    const file = out(name);
    await writeFile(file, Buffer.alloc(size, byte));
    return file;
  };
  const prefixDigest = async (file: string, length: number): Promise<string> =>
    createHash('sha256').update((await readFile(file)).subarray(0, length)).digest('hex');

  it.each(['small.qcow2', 'small.raw.zst'] as const)('%s overwrites stale bytes with zeros where the image has none', async (name) => {
    const device = await filled(`dev-${name}`, 0xff, 8 * MiB);
    const result = await convertWith('file', fx.file(name), { kind: 'block', path: device });
    expect((await stat(device)).size).toBe(8 * MiB);
    expect(await prefixDigest(device, result.virtualSize)).toBe(fx.reference[name.replace('.zst', '')]);
  });

  it('skips zeros on a device that is already zeroed', async () => {
    const device = await filled('dev-zeroed', 0, 8 * MiB);
    const result = await convertWith('pipe', fx.file('small-zstd.qcow2'), { kind: 'block', path: device, zeroed: true });
    expect(result.writtenBytes).toBeLessThan(result.virtualSize);
    expect(await prefixDigest(device, result.virtualSize)).toBe(fx.reference['small-zstd.qcow2']);
  });

  it('refuses an image larger than the device and wipes the head of a failed one', async () => {
    const small = await filled('dev-small', 0xff, 4 * MiB);
    expect(await codeOf(convertWith('file', fx.file('small.qcow2'), { kind: 'block', path: small }))).toBe('CDI_ERR_TOO_LARGE');
    const device = await filled('dev-wipe', 0xff, 8 * MiB);
    const wrong = `sha256:${'0'.repeat(64)}`;
    expect(await codeOf(convertWith('pipe', fx.file('small.raw'), { kind: 'block', path: device }, { checksum: wrong }))).toBe('CDI_ERR_CHECKSUM_MISMATCH');
    expect((await readFile(device)).subarray(0, MiB).every((b) => b === 0)).toBe(true);
  });
});

describe('cancellation', () => {
  it.each(['file', 'pipe', 'bytes-random'] as Feed[])('an aborted conversion in %s mode ends with CDI_ERR_ABORTED', async (feed) => {
    const controller = new AbortController();
    const target = out(`aborted-${feed}.img`);
    const running = convertWith(feed, fx.file('small.raw.xz'), { kind: 'file', path: target }, {
      signal: controller.signal,
      onProgress: (e) => {
        if (e.stage === 'convert') controller.abort('test');
      },
    });
    expect(await codeOf(running)).toBe('CDI_ERR_ABORTED');
    expect(await exists(target)).toBe(false);
  });
});
