/**
 * Hostile and broken VHDs: each is refused by both readers with a coded error (the one-pass
 * reader may only learn of a short file when the stream ends), and nothing is emitted past the
 * virtual size. Images are qemu-img output with bytes patched.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCdiError, type ErrorCode } from '../../src/api/errors.ts';
import { openVhdRandom, openVhdStream } from '../../src/format/vhd/index.ts';
import { qemuImg } from '../support/qemu.ts';
import { bufferInput, chunked, drain } from '../qcow2/harness.ts';
import { built, patchDynamicHeader, patchFooter, patchFooters, vhdFixture } from './fixtures.ts';

let work: string;
let dynamic: Buffer;
let fixed: Buffer;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vhd-bad-'));
  dynamic = await readFile((await built(vhdFixture('dynamic'))).file);
  fixed = await readFile((await built(vhdFixture('fixed'))).file);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const HEADER = 512;
const TABLE = 1536;
const table = (b: Buffer, i: number): number => b.readUInt32BE(TABLE + 4 * i);

async function outcome(run: () => Promise<unknown>): Promise<{ code: ErrorCode; message: string }> {
  try {
    await run();
  } catch (err) {
    if (!isCdiError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error('the reader accepted the image');
}

type Expect = ErrorCode | { random: ErrorCode; stream: ErrorCode };

function expectRefused(bytes: Buffer, expected: Expect, message?: RegExp): Promise<void> {
  const random = typeof expected === 'string' ? expected : expected.random;
  const stream = typeof expected === 'string' ? expected : expected.stream;
  return (async () => {
    const r = await outcome(async () => drain(await openVhdRandom(bufferInput(bytes), {})));
    expect(r.code).toBe(random);
    if (message && typeof expected === 'string') expect(r.message).toMatch(message);
    for (const chunk of ['whole', 509] as const) {
      const s = await outcome(async () => drain(await openVhdStream(chunked(bytes, chunk), { scratchDir: work })));
      expect(s.code).toBe(stream);
      if (message && typeof expected === 'string') expect(s.message).toMatch(message);
    }
  })();
}

const copy = (b: Buffer): Buffer => Buffer.from(b);

describe('refused VHDs', () => {
  it('a file shorter than a footer', () => expectRefused(dynamic.subarray(0, 100), 'CDI_ERR_TRUNCATED'));
  it('a file cut inside the block table', () => expectRefused(dynamic.subarray(0, TABLE + 6), 'CDI_ERR_TRUNCATED'));
  it('a file cut inside a data block', () =>
    expectRefused(dynamic.subarray(0, table(dynamic, 0) * 512 + 5000), { random: 'CDI_ERR_VHD_INVALID', stream: 'CDI_ERR_TRUNCATED' }));

  it('a footer checksum mismatch', () => {
    const b = copy(dynamic);
    b[40] = b[40]! ^ 1;
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /footer checksum is 0x[0-9a-f]{8}, the footer sums to 0x[0-9a-f]{8}/);
  });

  it('a dynamic header checksum mismatch', () => {
    const b = copy(dynamic);
    b[HEADER + 600] = b[HEADER + 600]! ^ 0x10;
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /dynamic disk header checksum/);
  });

  it('a missing dynamic header', () => {
    const b = copy(dynamic);
    b.write('cxsparsX', HEADER, 'latin1');
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /no dynamic disk header/);
  });

  it('a block table entry past the end of the file', () => {
    const b = copy(dynamic);
    b.writeUInt32BE(0x7fff0000, TABLE);
    return expectRefused(b, { random: 'CDI_ERR_VHD_INVALID', stream: 'CDI_ERR_TRUNCATED' });
  });

  it('two block table entries pointing at the same block', () => {
    const b = copy(dynamic);
    b.writeUInt32BE(table(b, 0), TABLE + 4);
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /overlap/);
  });

  it('a block table entry pointing into the dynamic header', () => {
    const b = copy(dynamic);
    b.writeUInt32BE(1, TABLE);
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /overlaps the dynamic disk header/);
  });

  it('a block table entry pointing into the table itself', () => {
    const b = copy(dynamic);
    b.writeUInt32BE(TABLE / 512, TABLE + 4);
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /overlaps the block allocation table/);
  });

  it('a 2^62-byte virtual size', () => {
    const b = copy(dynamic);
    patchFooters(b, (f) => {
      f.write('qem2', 28, 'latin1');
      f.writeBigUInt64BE(1n << 62n, 48);
    });
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /current size 0x4000000000000000 is out of range/);
  });

  it('a 4 TiB virtual size', () => {
    const b = copy(dynamic);
    patchFooters(b, (f) => {
      f.write('qem2', 28, 'latin1');
      f.writeBigUInt64BE(1n << 42n, 48);
    });
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /larger than the 2040 GiB VHD maximum/);
  });

  it('a huge block table', () => {
    const b = copy(dynamic);
    patchDynamicHeader(b, (h) => h.writeUInt32BE(0xffffffff, 28));
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /more than a 2040 GiB disk/);
  });

  it('a table too big to map (1 TiB in 512-byte blocks)', () => {
    const b = copy(dynamic);
    patchFooters(b, (f) => {
      f.write('qem2', 28, 'latin1');
      f.writeBigUInt64BE(1n << 40n, 48);
    });
    patchDynamicHeader(b, (h) => {
      h.writeUInt32BE(512, 32);
      h.writeUInt32BE(2 ** 31, 28);
    });
    return expectRefused(b, 'CDI_ERR_VHD_UNSUPPORTED', /needs 2147483648 entries, more than the 8388608 this reader maps/);
  });

  it('a block table too small for the disk', () => {
    const b = copy(dynamic);
    patchDynamicHeader(b, (h) => h.writeUInt32BE(1, 28));
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /the block table has 1 entries/);
  });

  it('a block size that is not a power of two', () => {
    const b = copy(dynamic);
    patchDynamicHeader(b, (h) => h.writeUInt32BE(3 * 1024 * 1024, 32));
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /block size 3145728/);
  });

  it('a differencing disk (parent reference)', () => {
    const b = copy(dynamic);
    patchFooters(b, (f) => f.writeUInt32BE(4, 60));
    return expectRefused(b, 'CDI_ERR_VHD_UNSUPPORTED', /differencing disk/);
  });

  it('an unknown disk type', () => {
    const b = copy(dynamic);
    patchFooters(b, (f) => f.writeUInt32BE(5, 60));
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /unknown disk type 5/);
  });

  it('a fixed-disk footer at the start', () => {
    const b = copy(dynamic);
    patchFooter(b, 0, (f) => f.writeUInt32BE(2, 60));
    return expectRefused(b, 'CDI_ERR_VHD_INVALID', /describes a fixed disk/);
  });
});

describe('refused fixed VHDs (random access only: in a pipe a fixed VHD is raw)', () => {
  it('a footer declaring more data than the file holds', async () => {
    const b = copy(fixed);
    patchFooter(b, b.byteLength - 512, (f) => {
      f.write('qem2', 28, 'latin1');
      f.writeBigUInt64BE(BigInt(b.byteLength), 48);
    });
    const r = await outcome(async () => drain(await openVhdRandom(bufferInput(b), {})));
    expect(r.code).toBe('CDI_ERR_TRUNCATED');
  });

  it('a footer checksum mismatch', async () => {
    const b = copy(fixed);
    b[b.byteLength - 512 + 41] = b[b.byteLength - 512 + 41]! ^ 4;
    const r = await outcome(async () => drain(await openVhdRandom(bufferInput(b), {})));
    expect(r.code).toBe('CDI_ERR_VHD_INVALID');
  });

  it('a dynamic disk whose leading footer copy is gone', async () => {
    const b = copy(dynamic);
    b.fill(0, 0, 8);
    const r = await outcome(async () => drain(await openVhdRandom(bufferInput(b), {})));
    expect(r.code).toBe('CDI_ERR_VHD_INVALID');
    expect(r.message).toMatch(/must start with a copy of its footer/);
  });
});

describe('sector bitmaps', () => {
  it('a sector whose bitmap bit is clear reads as zeros (qemu-img reads whatever the file holds there)', async () => {
    const b = copy(dynamic);
    const block = table(b, 0) * 512;
    b[block] = 0x0f; // sectors 0-3 of block 0 not present
    const ref = path.join(work, 'ref.raw');
    await qemuImg('convert', '-f', 'vpc', '-O', 'raw', (await built(vhdFixture('dynamic'))).file, ref);
    const expected = await readFile(ref);
    expected.fill(0, 0, 4 * 512);
    const want = createHash('sha256').update(expected).digest('hex');
    const img = path.join(work, 'bitmap.vhd');
    await writeFile(img, b);
    const { convertToFile, fileInput } = await import('../qcow2/harness.ts');
    const input = await fileInput(img);
    try {
      expect(await convertToFile(await openVhdRandom(input, {}), path.join(work, 'bitmap-random.raw'))).toBe(want);
    } finally {
      await (input as unknown as { close(): Promise<void> }).close();
    }
    expect(await convertToFile(await openVhdStream(chunked(b, 509), { scratchDir: work }), path.join(work, 'bitmap-stream.raw'))).toBe(want);
  });
});
