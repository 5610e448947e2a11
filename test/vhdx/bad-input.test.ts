/**
 * Hostile and broken VHDXs: each is refused by both readers with a coded error (the one-pass
 * reader may only learn of a short file when the stream ends); redundant copies (a second header
 * or region table) take over when one is damaged; block states read as qemu reads them. Images
 * are qemu-img output with bytes patched and checksums fixed where the case needs it.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCdiError, type ErrorCode } from '../../src/api/errors.ts';
import { guidHex } from '../../src/format/vhdx/layout.ts';
import { openVhdxRandom, openVhdxStream } from '../../src/format/vhdx/index.ts';
import { qemuImg, sha256File } from '../support/qemu.ts';
import { bufferInput, chunked, convertToFile, drain } from '../qcow2/harness.ts';
import { BAT_GUID, built, fixHeaders, fixRegionTables, HEADERS, METADATA_GUID, REGION_TABLES, regionEntries, vhdxFixture } from './fixtures.ts';

let work: string;
let dynamic: Buffer;
let fixed: Buffer;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vhdx-bad-'));
  dynamic = await readFile((await built(vhdxFixture('block-1m'))).file);
  fixed = await readFile((await built(vhdxFixture('block-1m-fixed'))).file);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const MiB = 1024 * 1024;
const copy = (b: Buffer): Buffer => Buffer.from(b);

function region(b: Buffer, guid: string): { entry: number; offset: number; length: number } {
  const e = regionEntries(b, REGION_TABLES[0]!).find((x) => x.guid === guid)!;
  return { entry: e.at, offset: Number(b.readBigUInt64LE(e.at + 16)), length: b.readUInt32LE(e.at + 24) };
}
const bat = (b: Buffer): number => region(b, BAT_GUID).offset;

/** File offset of a metadata item's data. */
function item(b: Buffer, guid: string): number {
  const meta = region(b, METADATA_GUID).offset;
  const count = b.readUInt16LE(meta + 10);
  for (let i = 0; i < count; i++) {
    const at = meta + 32 + i * 32;
    if (b.subarray(at, at + 16).toString('hex') === guidHex(guid)) return meta + b.readUInt32LE(at + 16);
  }
  throw new Error(`no metadata item ${guid}`);
}
const FILE_PARAMETERS = 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B';
const VIRTUAL_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';
const LOGICAL_SECTOR = '8141BF1D-A96F-4709-BA47-F233A8FAAB5F';

/** Sets payload entry `i` (block size 1 MiB: chunk ratio 4096, so no bitmap entry before it). */
function setEntry(b: Buffer, i: number, state: number, offsetMiB: number): void {
  b.writeBigUInt64LE((BigInt(offsetMiB) << 20n) | BigInt(state), bat(b) + i * 8);
}
const entryOffsetMiB = (b: Buffer, i: number): number => Number(b.readBigUInt64LE(bat(b) + i * 8) >> 20n);

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

async function expectRefused(bytes: Buffer, expected: Expect, message?: RegExp): Promise<void> {
  const random = typeof expected === 'string' ? expected : expected.random;
  const stream = typeof expected === 'string' ? expected : expected.stream;
  const r = await outcome(async () => drain(await openVhdxRandom(bufferInput(bytes), {})));
  expect(r.code).toBe(random);
  if (message && typeof expected === 'string') expect(r.message).toMatch(message);
  for (const chunk of ['whole', 4099] as const) {
    const s = await outcome(async () => drain(await openVhdxStream(chunked(bytes, chunk), { scratchDir: work })));
    expect(s.code).toBe(stream);
    if (message && typeof expected === 'string') expect(s.message).toMatch(message);
  }
}

/** Both readers convert `bytes` exactly as qemu-img does. */
async function expectLikeQemu(bytes: Buffer, name: string): Promise<void> {
  const img = path.join(work, `${name}.vhdx`);
  await writeFile(img, bytes);
  const ref = path.join(work, `${name}.raw`);
  await qemuImg('convert', '-f', 'vhdx', '-O', 'raw', img, ref);
  const want = await sha256File(ref);
  expect(await convertToFile(await openVhdxRandom(bufferInput(bytes), {}), path.join(work, `${name}-random.raw`))).toBe(want);
  expect(await convertToFile(await openVhdxStream(chunked(bytes, 4099), { scratchDir: work }), path.join(work, `${name}-stream.raw`))).toBe(want);
}

describe('refused VHDXs', () => {
  it('a file cut inside the header section', () => expectRefused(dynamic.subarray(0, 100_000), 'CDI_ERR_TRUNCATED'));
  it('a file cut inside the payload', () =>
    expectRefused(dynamic.subarray(0, entryOffsetMiB(dynamic, 0) * MiB + 5000), { random: 'CDI_ERR_VHDX_INVALID', stream: 'CDI_ERR_TRUNCATED' }));
  it('a file cut before the BAT', () => expectRefused(dynamic.subarray(0, bat(dynamic) + 16), 'CDI_ERR_TRUNCATED'));

  it('no file identifier', () => {
    const b = copy(dynamic);
    b.write('vhdxfilX', 0, 'latin1');
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /no "vhdxfile" file identifier/);
  });

  it('both headers failing their CRC-32C', () => {
    const b = copy(dynamic);
    for (const h of HEADERS) b[h + 100] = b[h + 100]! ^ 1;
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /neither header is valid \(first: CRC-32C is 0x[0-9a-f]+, the header's is 0x[0-9a-f]+/);
  });

  it('both region tables failing their CRC-32C', () => {
    const b = copy(dynamic);
    for (const t of REGION_TABLES) b[t + 1000] = b[t + 1000]! ^ 1;
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /neither region table is valid/);
  });

  it('a log that needs replay', () => {
    const b = copy(dynamic);
    for (const h of HEADERS) b.fill(0xab, h + 48, h + 64);
    fixHeaders(b);
    return expectRefused(b, 'CDI_ERR_VHDX_LOG', /log that needs replay \(log GUID abab/);
  });

  it('a differencing disk (has-parent flag)', () => {
    const b = copy(dynamic);
    const at = item(b, FILE_PARAMETERS);
    b.writeUInt32LE(b.readUInt32LE(at + 4) | 2, at + 4);
    return expectRefused(b, 'CDI_ERR_VHDX_UNSUPPORTED', /differencing disk/);
  });

  it('a 2^62-byte virtual size', () => {
    const b = copy(dynamic);
    b.writeBigUInt64LE(1n << 62n, item(b, VIRTUAL_SIZE));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /virtual disk size 0x4000000000000000 is out of range/);
  });

  it('a 65 TiB virtual size', () => {
    const b = copy(dynamic);
    b.writeBigUInt64LE(65n << 40n, item(b, VIRTUAL_SIZE));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /larger than the 64 TiB VHDX maximum/);
  });

  it('a BAT too big to map (60 TiB in 1 MiB blocks)', () => {
    const b = copy(dynamic);
    b.writeBigUInt64LE(60n << 40n, item(b, VIRTUAL_SIZE));
    return expectRefused(b, 'CDI_ERR_VHDX_UNSUPPORTED', /more than the 8388608 this reader maps/);
  });

  it('a BAT region too small for the virtual size', () => {
    const b = copy(dynamic);
    b.writeBigUInt64LE(1n << 40n, item(b, VIRTUAL_SIZE));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /BAT region is too small/);
  });

  it('a block size that is not a power of two', () => {
    const b = copy(dynamic);
    b.writeUInt32LE(3 * MiB, item(b, FILE_PARAMETERS));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /block size 3145728/);
  });

  it('a logical sector size of 1024', () => {
    const b = copy(dynamic);
    b.writeUInt32LE(1024, item(b, LOGICAL_SECTOR));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /logical sector size 1024/);
  });

  it('a BAT entry past the end of the file', () => {
    const b = copy(dynamic);
    setEntry(b, 0, 6, 100_000);
    return expectRefused(b, { random: 'CDI_ERR_VHDX_INVALID', stream: 'CDI_ERR_TRUNCATED' });
  });

  it('an out-of-range BAT entry', () => {
    const b = copy(dynamic);
    b.writeBigUInt64LE(0xffff_ffff_fff0_0006n, bat(b));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /out of range/);
  });

  it('two BAT entries pointing at the same block', () => {
    const b = copy(dynamic);
    setEntry(b, 1, 6, entryOffsetMiB(b, 0));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /overlap/);
  });

  it('a BAT entry pointing into the metadata region', () => {
    const b = copy(dynamic);
    setEntry(b, 0, 6, region(b, METADATA_GUID).offset / MiB);
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /overlaps the metadata region/);
  });

  it('a BAT entry pointing into the header section', () => {
    const b = copy(dynamic);
    setEntry(b, 0, 6, 0);
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /inside the header section/);
  });

  it('a partially present block in a disk without parent', () => {
    const b = copy(dynamic);
    setEntry(b, 0, 7, entryOffsetMiB(b, 0));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', /partially present/);
  });

  it.each([4, 5])('an unknown block state %i', (state) => {
    const b = copy(dynamic);
    setEntry(b, 0, state, entryOffsetMiB(b, 0));
    return expectRefused(b, 'CDI_ERR_VHDX_INVALID', new RegExp(`unknown state ${state}`));
  });

  it('an unknown required region', () => {
    const b = copy(dynamic);
    for (const t of REGION_TABLES) {
      const e = regionEntries(b, t).find((x) => x.guid === METADATA_GUID)!;
      b.fill(0x11, e.at, e.at + 16);
      b.writeUInt32LE(1, e.at + 28);
    }
    fixRegionTables(b);
    return expectRefused(b, 'CDI_ERR_VHDX_UNSUPPORTED', /required region of an unknown kind/);
  });

  it('an unknown required metadata item', () => {
    const b = copy(dynamic);
    const meta = region(b, METADATA_GUID).offset;
    const count = b.readUInt16LE(meta + 10);
    const at = meta + 32 + count * 32;
    b.fill(0x22, at, at + 16);
    b.writeUInt32LE(0x20000, at + 16);
    b.writeUInt32LE(8, at + 20);
    b.writeUInt32LE(4, at + 24);
    b.writeUInt16LE(count + 1, meta + 10);
    return expectRefused(b, 'CDI_ERR_VHDX_UNSUPPORTED', /required metadata item of an unknown kind/);
  });
});

describe('redundant copies and block states, as qemu reads them', () => {
  it('a damaged first header: the second is used', () => {
    const b = copy(dynamic);
    b[HEADERS[0]! + 100] = b[HEADERS[0]! + 100]! ^ 1;
    return expectLikeQemu(b, 'header2');
  });

  it('a damaged first region table: the second is used', async () => {
    const b = copy(dynamic);
    b[REGION_TABLES[0]! + 1000] = b[REGION_TABLES[0]! + 1000]! ^ 1;
    const img = path.join(work, 'regions.vhdx');
    await writeFile(img, b);
    const want = (await built(vhdxFixture('block-1m'))).reference;
    expect(await convertToFile(await openVhdxRandom(bufferInput(b), {}), path.join(work, 'regions-random.raw'))).toBe(want);
    expect(await convertToFile(await openVhdxStream(chunked(b, 4099), { scratchDir: work }), path.join(work, 'regions-stream.raw'))).toBe(want);
  });

  it.each([[0, 'not present'], [1, 'undefined'], [2, 'zero'], [3, 'unmapped']])('a fixed disk block in state %i (%s) reads as zeros', (state, name) => {
    const b = copy(fixed);
    setEntry(b, 1, state, entryOffsetMiB(b, 1));
    return expectLikeQemu(b, `state-${name}`);
  });
});
