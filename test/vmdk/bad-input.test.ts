/**
 * Hostile and broken VMDK images: each is refused by both readers with a coded error, and a
 * conversion of one leaves no target behind. Images are real qemu-img (or writer.ts) output with
 * bytes patched. qemu-img itself reads some of these as zeros (a truncated file) or follows them
 * (a descriptor naming /etc/shadow): we refuse.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCdiError, type ErrorCode } from '../../src/api/errors.ts';
import { convert } from '../../src/format/index.ts';
import { openVmdkRandom, openVmdkStream } from '../../src/format/vmdk/index.ts';
import { bufferInput, chunked, drain } from '../qcow2/harness.ts';
import { qemuImg, sha256File } from '../support/qemu.ts';
import { builtVmdk, vmdkFixture } from './fixtures.ts';
import { writeVmdk } from './writer.ts';

let work: string;
let scratch: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vmdk-bad-'));
  scratch = path.join(work, 'scratch');
  await mkdir(scratch);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fixtureBytes(name: string): Promise<Buffer> {
  return readFile((await builtVmdk(vmdkFixture(name))).file);
}

type Outcome = { code: ErrorCode } | { ok: number };

async function outcome(fn: () => Promise<number>): Promise<Outcome> {
  try {
    return { ok: await fn() };
  } catch (err) {
    if (isCdiError(err)) return { code: err.code };
    throw err;
  }
}

const viaRandom = (bytes: Uint8Array): Promise<Outcome> => outcome(async () => drain(await openVmdkRandom(bufferInput(bytes), {})));
const viaStream = (bytes: Uint8Array, chunking: 'whole' | number = 'whole'): Promise<Outcome> =>
  outcome(async () => drain(await openVmdkStream(chunked(bytes, chunking), { scratchDir: scratch })));

async function expectRefused(bytes: Uint8Array, random: ErrorCode, stream: ErrorCode = random): Promise<void> {
  expect(await viaRandom(bytes)).toEqual({ code: random });
  expect(await viaStream(bytes)).toEqual({ code: stream });
  expect(await viaStream(bytes, 4093)).toEqual({ code: stream });
}

/** Sparse extent header fields (little-endian). */
const sectors = (b: Buffer, at: number): number => Number(b.readBigUInt64LE(at)) * 512;
const gdAt = (b: Buffer): number => sectors(b, 56);
const gtAt = (b: Buffer): number => b.readUInt32LE(gdAt(b)) * 512;
/** File offset of the n-th allocated grain-table entry of the first table. */
function grainEntry(b: Buffer, n = 0): number {
  for (let at = gtAt(b), seen = 0; ; at += 4) {
    if (b.readUInt32LE(at) > 1 && seen++ === n) return at;
  }
}

function descriptorFile(body: string): Buffer {
  const out = Buffer.alloc(512);
  out.write(`# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n${body}`, 'latin1');
  return out;
}

describe('vmdk refusals: truncation and offsets past the end', () => {
  it('refuses truncated images instead of reading zeros', async () => {
    for (const name of ['sparse-64k', 'stream-optimized']) {
      const bytes = await fixtureBytes(name);
      await expectRefused(bytes.subarray(0, Math.floor(bytes.byteLength / 2)), 'CDI_ERR_VMDK_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
      await expectRefused(bytes.subarray(0, 300), 'CDI_ERR_TRUNCATED');
      await expectRefused(bytes.subarray(0, 5000), 'CDI_ERR_TRUNCATED');
    }
    const esxi = await fixtureBytes('esxi-stream-4k-grains');
    await expectRefused(esxi.subarray(0, esxi.byteLength - 700), 'CDI_ERR_VMDK_INVALID', 'CDI_ERR_TRUNCATED');
  });

  it('refuses a grain, a grain table or the grain directory past the end of the file', async () => {
    const grain = await fixtureBytes('sparse-64k');
    grain.writeUInt32LE(0x00ffffff, grainEntry(grain, 3));
    await expectRefused(grain, 'CDI_ERR_VMDK_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    const table = await fixtureBytes('sparse-64k');
    table.writeUInt32LE(0x00ffffff, gdAt(table));
    await expectRefused(table, 'CDI_ERR_VMDK_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    const directory = await fixtureBytes('sparse-64k');
    directory.writeBigUInt64LE(0xffffffn, 56);
    await expectRefused(directory, 'CDI_ERR_VMDK_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    const compressed = await fixtureBytes('stream-optimized');
    compressed.writeUInt32LE(0x00ffffff, grainEntry(compressed, 2));
    expect(await viaRandom(compressed)).toEqual({ code: 'CDI_ERR_VMDK_OUT_OF_BOUNDS' });
  });
});

describe('vmdk refusals: overlapping and out-of-range entries', () => {
  it('refuses two grain-table entries for one grain, and a grain overlapping another', async () => {
    const twice = await fixtureBytes('sparse-64k');
    twice.writeUInt32LE(twice.readUInt32LE(grainEntry(twice, 0)), grainEntry(twice, 1));
    await expectRefused(twice, 'CDI_ERR_VMDK_INVALID');
    const shifted = await fixtureBytes('sparse-64k');
    shifted.writeUInt32LE(shifted.readUInt32LE(grainEntry(shifted, 0)) + 1, grainEntry(shifted, 1));
    await expectRefused(shifted, 'CDI_ERR_VMDK_INVALID');
  });

  it('refuses grains inside the header, descriptor and tables', async () => {
    for (const target of [(b: Buffer) => gtAt(b) / 512, () => 1, () => 3]) {
      const bytes = await fixtureBytes('sparse-64k');
      bytes.writeUInt32LE(target(bytes), grainEntry(bytes, 2));
      await expectRefused(bytes, 'CDI_ERR_VMDK_INVALID');
    }
  });

  it('refuses a grain table that overlaps the grain directory', async () => {
    const bytes = await fixtureBytes('sparse-64k');
    bytes.writeUInt32LE(gdAt(bytes) / 512, gdAt(bytes));
    await expectRefused(bytes, 'CDI_ERR_VMDK_INVALID');
  });

  it('refuses compressed grains whose markers disagree with the grain table or repeat a guest offset', async () => {
    const bytes = await fixtureBytes('stream-optimized');
    const first = bytes.readUInt32LE(grainEntry(bytes, 0)) * 512;
    bytes.writeBigUInt64LE(bytes.readBigUInt64LE(first), bytes.readUInt32LE(grainEntry(bytes, 1)) * 512);
    await expectRefused(bytes, 'CDI_ERR_VMDK_INVALID');
    const unaligned = await fixtureBytes('stream-optimized');
    unaligned.writeBigUInt64LE(3n, unaligned.readUInt32LE(grainEntry(unaligned, 0)) * 512);
    await expectRefused(unaligned, 'CDI_ERR_VMDK_INVALID');
    const beyond = await fixtureBytes('stream-optimized');
    beyond.writeBigUInt64LE(1n << 40n, beyond.readUInt32LE(grainEntry(beyond, 0)) * 512);
    await expectRefused(beyond, 'CDI_ERR_VMDK_OUT_OF_BOUNDS');
  });

  it('refuses grain markers that disagree with grain tables before the grains (qemu-img layout) in both modes', async () => {
    const moved = await fixtureBytes('stream-optimized');
    expect(moved.readUInt32LE(gtAt(moved))).toBe(0);
    // the second grain now claims guest offset 0, which the table leaves unallocated
    moved.writeBigUInt64LE(0n, moved.readUInt32LE(grainEntry(moved, 1)) * 512);
    await expectRefused(moved, 'CDI_ERR_VMDK_INVALID');
    // the table maps the unallocated first grain to the second grain's marker: that grain is then read twice or not at all
    const mapped = await fixtureBytes('stream-optimized');
    mapped.writeUInt32LE(mapped.readUInt32LE(grainEntry(mapped, 1)), gtAt(mapped));
    await expectRefused(mapped, 'CDI_ERR_VMDK_INVALID');
  });

  it('refuses grain markers that disagree with grain tables after the grains (ESXi layout) in both modes', async () => {
    const bytes = await fixtureBytes('esxi-stream-4k-grains');
    const seen = new Set<bigint>();
    for (let at = 3 * 512; ;) {
      const size = bytes.readUInt32LE(at + 8);
      if (size === 0) break;
      seen.add(bytes.readBigUInt64LE(at));
      at += Math.ceil((12 + size) / 512) * 512;
    }
    let free = 0n;
    while (seen.has(free)) free += 8n;
    bytes.writeBigUInt64LE(free, 3 * 512);
    await expectRefused(bytes, 'CDI_ERR_VMDK_INVALID');
  });

  it('refuses a grain whose compressed size runs into the next grain', async () => {
    const bytes = await fixtureBytes('stream-optimized');
    const first = bytes.readUInt32LE(grainEntry(bytes, 0)) * 512;
    bytes.writeUInt32LE(bytes.readUInt32LE(first + 8) + 4096, first + 8);
    expect(await viaRandom(bytes)).toEqual({ code: 'CDI_ERR_VMDK_INVALID' });
  });
});

describe('vmdk refusals: corrupt compressed grains', () => {
  const raw = Buffer.alloc(256 * 1024, 0x61);
  const grain = 4096;

  it('refuses a grain that inflates to more than a grain', async () => {
    const bytes = writeVmdk(raw, { compressed: true, grainSectors: 8, grainBytes: (i, g) => (i === 5 ? Buffer.alloc(2 * grain, 7) : g) });
    await expectRefused(bytes, 'CDI_ERR_VMDK_BAD_GRAIN');
    await expect(openVmdkRandom(bufferInput(bytes), {}).then(drain)).rejects.toThrow(/guest offset 20480 is corrupt: inflates to more than one cluster/);
  });

  it('refuses a grain that inflates to less than a grain, and one that is not deflate', async () => {
    const short = writeVmdk(raw, { compressed: true, grainSectors: 8, grainBytes: (i, g) => (i === 2 ? g.subarray(0, 100) : g) });
    await expectRefused(short, 'CDI_ERR_VMDK_BAD_GRAIN');
    const garbage = writeVmdk(raw, { compressed: true, grainSectors: 8 });
    const host = garbage.indexOf(Buffer.from([0x78]), 3 * 512 + 12 + 600);
    garbage.fill(0xee, 3 * 512 + 12, 3 * 512 + 40);
    expect(host).toBeGreaterThan(0);
    await expectRefused(garbage, 'CDI_ERR_VMDK_BAD_GRAIN');
  });
});

describe('vmdk refusals: descriptors naming other files', () => {
  const run2 = (b: Buffer): Promise<Outcome> => viaStream(b);

  it.each([
    ['an absolute flat extent', 'createType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 0\n'],
    ['an absolute flat extent at an offset', 'createType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 1\n'],
    ['a relative path up the tree', 'createType="monolithicFlat"\nRW 2048 FLAT "../../etc/shadow" 4\n'],
    ['a flat extent beside the descriptor', 'createType="monolithicFlat"\nRW 2048 FLAT "disk-flat.vmdk" 0\n'],
    ['a vmfs extent', 'createType="vmfs"\nRW 2048 VMFS "disk-flat.vmdk"\n'],
    ['a sparse extent in another file', 'createType="monolithicSparse"\nRW 2048 SPARSE "disk-s001.vmdk"\n'],
    ['a parent disk', 'createType="monolithicSparse"\nparentFileNameHint="base.vmdk"\nRW 2048 SPARSE "disk.vmdk"\n'],
  ])('refuses %s', async (_label, body) => {
    expect(await run2(descriptorFile(body))).toEqual({ code: 'CDI_ERR_VMDK_EXTERNAL_FILE' });
    await expect(openVmdkStream(chunked(descriptorFile(body), 'whole'), { scratchDir: scratch }).then(drain)).rejects.toThrow(/refers to the file .+ outside the image/);
  });

  it('refuses split images with a reason, and qemu-img monolithicFlat and delta images', async () => {
    for (const subformat of ['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']) {
      const file = path.join(work, `${subformat}.vmdk`);
      await qemuImg('create', '-q', '-f', 'vmdk', '-o', `subformat=${subformat}`, file, '4M');
      const error = await openVmdkStream(chunked(await readFile(file), 'whole'), { scratchDir: scratch }).catch((err: unknown) => err);
      expect(error).toMatchObject({ code: 'CDI_ERR_VMDK_UNSUPPORTED' });
      expect((error as Error).message).toMatch(new RegExp(`${subformat} images are split over several files`));
    }
    const flat = path.join(work, 'flat.vmdk');
    await qemuImg('create', '-q', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', flat, '1M');
    expect(await viaStream(await readFile(flat))).toEqual({ code: 'CDI_ERR_VMDK_EXTERNAL_FILE' });
    const base = path.join(work, 'base.vmdk');
    await qemuImg('create', '-q', '-f', 'vmdk', base, '1M');
    const top = path.join(work, 'top.vmdk');
    await qemuImg('create', '-q', '-f', 'vmdk', '-b', base, '-F', 'vmdk', top);
    await expectRefused(await readFile(top), 'CDI_ERR_VMDK_EXTERNAL_FILE');
  });

  it('refuses a sparse header with no capacity whose descriptor names another file', async () => {
    const bytes = await fixtureBytes('sparse-64k');
    bytes.writeBigUInt64LE(0n, 12);
    const desc = sectors(bytes, 28);
    bytes.fill(0, desc, desc + 1024);
    bytes.write('# Disk DescriptorFile\ncreateType="monolithicSparse"\nRW 12288 SPARSE "/etc/shadow"\n', desc, 'latin1');
    await expectRefused(bytes, 'CDI_ERR_VMDK_EXTERNAL_FILE');
  });

  it('reads a flat extent that follows its descriptor in the same file, as qemu-img does', async () => {
    const data = Buffer.alloc(128 * 1024);
    for (let i = 0; i < data.byteLength; i++) data[i] = (i * 7) % 251;
    data.fill(0, 32 * 1024, 64 * 1024);
    const file = path.join(work, 'self.vmdk');
    await writeFile(file, Buffer.concat([descriptorFile('createType="monolithicFlat"\nRW 256 FLAT "self.vmdk" 2\n'), Buffer.alloc(512), data]));
    await qemuImg('convert', '-O', 'raw', file, path.join(work, 'self.ref'));
    const reference = await sha256File(path.join(work, 'self.ref'));
    for (const kind of ['random', 'stream'] as const) {
      const target = path.join(work, `self-${kind}.raw`);
      const bytes = await readFile(file);
      const input = kind === 'stream' ? { kind, stream: chunked(bytes, 333) } : { kind, input: bufferInput(bytes) };
      const result = await convert(input, { kind: 'file', path: target }, { contentType: 'kubevirt' });
      expect(result).toMatchObject({ format: 'vmdk', virtualSize: 128 * 1024 });
      expect(await sha256File(target)).toBe(reference);
    }
    const cut = Buffer.concat([descriptorFile('createType="monolithicFlat"\nRW 256 FLAT "self.vmdk" 2\n'), Buffer.alloc(512), data.subarray(0, 1000)]);
    expect(await viaStream(cut)).toEqual({ code: 'CDI_ERR_TRUNCATED' });
  });
});

describe('vmdk refusals: absurd sizes and lying headers', () => {
  it.each([
    ['a capacity of 2^62 sectors', 12, 1n << 62n, 'CDI_ERR_VMDK_INVALID'],
    ['a capacity needing a huge grain directory', 12, 1n << 40n, 'CDI_ERR_VMDK_INVALID'],
    ['a grain size that is not a power of two', 20, 3n, 'CDI_ERR_VMDK_INVALID'],
    ['a zero grain size', 20, 0n, 'CDI_ERR_VMDK_INVALID'],
    ['a 4 MiB grain', 20, 8192n, 'CDI_ERR_VMDK_UNSUPPORTED'],
    // a pipe cannot know the file's size up front: there every grain is then below the grain offset
    ['a grain offset past the end of the file', 64, 1n << 30n, 'CDI_ERR_TRUNCATED', 'CDI_ERR_VMDK_INVALID'],
    ['a grain offset inside the header', 64, 0n, 'CDI_ERR_VMDK_INVALID'],
  ] as const)('refuses %s', async (_label, at, value, code, streamCode?: ErrorCode) => {
    const bytes = await fixtureBytes('sparse-64k');
    bytes.writeBigUInt64LE(value, at);
    await expectRefused(bytes, code, streamCode);
  });

  it.each([
    ['grain tables of 0 entries', 0, 'CDI_ERR_VMDK_INVALID'],
    ['grain tables of 4096 entries', 4096, 'CDI_ERR_VMDK_INVALID'],
  ] as const)('refuses %s', async (_label, entries, code) => {
    const bytes = await fixtureBytes('sparse-64k');
    bytes.writeUInt32LE(entries, 44);
    await expectRefused(bytes, code);
  });

  it('refuses bad magic, unknown versions, ESX COWD extents and unknown compression', async () => {
    const magic = await fixtureBytes('sparse-64k');
    magic.write('KDMW', 0, 'latin1');
    await expectRefused(magic, 'CDI_ERR_VMDK_INVALID');
    const version = await fixtureBytes('sparse-64k');
    version.writeUInt32LE(4, 4);
    await expectRefused(version, 'CDI_ERR_VMDK_UNSUPPORTED');
    const cowd = await fixtureBytes('sparse-64k');
    cowd.write('COWD', 0, 'latin1');
    await expectRefused(cowd, 'CDI_ERR_VMDK_UNSUPPORTED');
    const algorithm = await fixtureBytes('stream-optimized');
    algorithm.writeUInt16LE(2, 77);
    await expectRefused(algorithm, 'CDI_ERR_VMDK_UNSUPPORTED');
  });

  it('refuses a header whose capacity disagrees with its descriptor, or damaged newline bytes', async () => {
    const capacity = await fixtureBytes('sparse-64k');
    capacity.writeBigUInt64LE(capacity.readBigUInt64LE(12) * 2n, 12);
    await expectRefused(capacity, 'CDI_ERR_VMDK_INVALID');
    const newline = await fixtureBytes('sparse-64k');
    newline[75] = 0x0a;
    await expectRefused(newline, 'CDI_ERR_VMDK_INVALID');
  });

  it('refuses a footer that disagrees with the header, and a header pointing at a missing footer', async () => {
    const footer = await fixtureBytes('esxi-stream-4k-grains');
    const at = footer.byteLength - 1024;
    footer.writeBigUInt64LE(footer.readBigUInt64LE(at + 12) + 128n, at + 12);
    await expectRefused(footer, 'CDI_ERR_VMDK_INVALID');
    const sparse = await fixtureBytes('sparse-64k');
    sparse.writeBigUInt64LE(0xffffffffffffffffn, 56);
    await expectRefused(sparse, 'CDI_ERR_VMDK_INVALID');
  });
});

describe('vmdk refusals through the pipeline', () => {
  it.each(['file', 'pipe'] as const)('leaves no target and no scratch file behind (%s)', async (feed) => {
    const bad = [
      descriptorFile('createType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 1\n'),
      (await fixtureBytes('sparse-tables-last')).subarray(0, -4096),
      (await fixtureBytes('stream-optimized')).subarray(0, -70_000),
    ];
    for (const [i, bytes] of bad.entries()) {
      const target = path.join(work, `pipeline-${feed}-${i}.img`);
      const input = feed === 'pipe' ? { kind: 'stream' as const, stream: chunked(bytes, 65536) } : { kind: 'random' as const, input: bufferInput(bytes) };
      const error = await convert(input, { kind: 'file', path: target }, { contentType: 'kubevirt', scratchDir: scratch }).catch((err: unknown) => err);
      expect(isCdiError(error)).toBe(true);
      await expect(readdir(work)).resolves.not.toContain(path.basename(target));
    }
    expect(await readdir(scratch)).toEqual([]);
  });
});
