/**
 * Hostile and broken VDI images: each is refused by both readers with a coded error, and nothing
 * is emitted past the virtual size; through the engine and the CLI the target is not left behind.
 * Images are real qemu-img output with bytes patched.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCdiError, type ErrorCode } from '../../src/api/errors.ts';
import { openVdiRandom, openVdiStream } from '../../src/format/vdi/index.ts';
import { codeOf, convertWith, exists } from '../format/helpers.ts';
import { bufferInput, chunked, drain } from '../qcow2/harness.ts';
import { qemuConvertToRaw, qemuImg, qemuIo } from '../support/qemu.ts';
import { blocksAllocated, built, dataOffset, fixtures, mapEntry, mapOffset, setMapEntry } from './fixtures.ts';

const MiB = 1024 * 1024;
let work: string;
let scratch: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'vdi-bad-'));
  scratch = path.join(work, 'scratch');
  await mkdir(scratch);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fixtureBytes(name: string): Promise<Buffer> {
  const f = fixtures.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return readFile((await built(f)).file);
}

/** small-dynamic: 4 MiB, guest block 3 in data block 0, guest block 1 in data block 1. */
async function small(edit?: (b: Buffer) => void): Promise<Buffer> {
  const bytes = Buffer.from(await fixtureBytes('small-dynamic'));
  edit?.(bytes);
  return bytes;
}

type Outcome = { code: ErrorCode } | { ok: number };

async function outcome(run: () => Promise<number>): Promise<Outcome> {
  try {
    return { ok: await run() };
  } catch (err) {
    if (isCdiError(err)) return { code: err.code };
    throw err;
  }
}

const viaRandom = (bytes: Uint8Array): Promise<Outcome> => outcome(async () => drain(await openVdiRandom(bufferInput(bytes), {})));
const viaStream = (bytes: Uint8Array, chunking: 'whole' | number = 'whole', spillLimit?: number): Promise<Outcome> =>
  outcome(async () => drain(await openVdiStream(chunked(bytes, chunking), { scratchDir: scratch, ...(spillLimit === undefined ? {} : { spillLimit }) })));

async function expectRefused(bytes: Uint8Array, random: ErrorCode, stream: ErrorCode = random): Promise<void> {
  expect(await viaRandom(bytes)).toEqual({ code: random });
  expect(await viaStream(bytes)).toEqual({ code: stream });
  expect(await viaStream(bytes, 4093)).toEqual({ code: stream });
}

describe('vdi refusals', () => {
  it('reads the unpatched base image', async () => {
    const bytes = await small();
    expect([mapEntry(bytes, 0), mapEntry(bytes, 1), mapEntry(bytes, 2), mapEntry(bytes, 3)]).toEqual([0xffffffff, 1, 0xffffffff, 0]);
    expect(await viaRandom(bytes)).toMatchObject({ ok: expect.any(Number) as number });
    expect(await viaStream(bytes, 4093)).toMatchObject({ ok: expect.any(Number) as number });
  });

  it('refuses truncated images: inside the header, the block map and a data block', async () => {
    const bytes = await small();
    await expectRefused(bytes.subarray(0, 300), 'CDI_ERR_TRUNCATED');
    await expectRefused(bytes.subarray(0, mapOffset(bytes) + 8), 'CDI_ERR_VDI_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    await expectRefused(bytes.subarray(0, bytes.byteLength - 1000), 'CDI_ERR_VDI_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
  });

  it('refuses a block past the end of the file, which qemu-img reads as zeros', async () => {
    const bytes = await small((b) => {
      b.writeUInt32LE(3, 0x184);
      setMapEntry(b, 0, 2);
    });
    await expectRefused(bytes, 'CDI_ERR_VDI_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    const file = path.join(work, 'past-eof.vdi');
    await writeFile(file, bytes);
    await qemuConvertToRaw(file, path.join(work, 'past-eof.raw'));
  });

  it('refuses block map entries out of range or shared by two guest blocks', async () => {
    await expectRefused(await small((b) => setMapEntry(b, 0, 2)), 'CDI_ERR_VDI_INVALID');
    await expectRefused(await small((b) => setMapEntry(b, 2, 0x7fffffff)), 'CDI_ERR_VDI_INVALID');
    await expectRefused(await small((b) => setMapEntry(b, 0, 1)), 'CDI_ERR_VDI_INVALID');
    await expectRefused(await small((b) => setMapEntry(b, 2, 0)), 'CDI_ERR_VDI_INVALID');
  });

  it('refuses absurd sizes: 2^62 bytes, a map of more than 32 MiB, a map that does not match the disk', async () => {
    await expectRefused(await small((b) => b.writeBigUInt64LE(1n << 62n, 0x170)), 'CDI_ERR_VDI_INVALID');
    await expectRefused(await small((b) => {
      b.writeBigUInt64LE(1n << 45n, 0x170);
      b.writeUInt32LE(2 ** 25, 0x180);
    }), 'CDI_ERR_VDI_INVALID');
    await expectRefused(await small((b) => b.writeUInt32LE(1000, 0x180)), 'CDI_ERR_VDI_INVALID');
    await expectRefused(await small((b) => b.writeBigUInt64LE(BigInt(64 * MiB), 0x170)), 'CDI_ERR_VDI_INVALID');
    await expectRefused(await small((b) => b.writeUInt32LE(5, 0x184)), 'CDI_ERR_VDI_INVALID');
  });

  it('refuses a header that lies about its layout', async () => {
    const cases: [string, (b: Buffer) => void][] = [
      ['bad signature', (b) => b.writeUInt32LE(0xbeda1070, 0x40)],
      ['version 1.0', (b) => b.writeUInt32LE(0x00010000, 0x44)],
      ['header size too small', (b) => b.writeUInt32LE(0x10, 0x48)],
      ['header size past its sector', (b) => b.writeUInt32LE(0x400, 0x48)],
      ['unknown image type', (b) => b.writeUInt32LE(5, 0x4c)],
      ['unaligned map', (b) => b.writeUInt32LE(0x201, 0x154)],
      ['unaligned data', (b) => b.writeUInt32LE(0x401, 0x158)],
      ['map inside the header', (b) => b.writeUInt32LE(0, 0x154)],
      ['data inside the header', (b) => b.writeUInt32LE(0, 0x158)],
      ['map inside the data', (b) => b.writeUInt32LE(dataOffset(b) + MiB, 0x154)],
      ['data over the map', (b) => b.writeUInt32LE(mapOffset(b), 0x158)],
      ['4 KiB sectors', (b) => b.writeUInt32LE(4096, 0x168)],
      ['2 MiB blocks', (b) => b.writeUInt32LE(2 * MiB, 0x178)],
      ['per-block extra data', (b) => b.writeUInt32LE(512, 0x17c)],
    ];
    for (const [what, edit] of cases) {
      const bytes = await small(edit);
      expect([what, await viaRandom(bytes)]).toEqual([what, { code: 'CDI_ERR_VDI_INVALID' }]);
      expect([what, await viaStream(bytes, 4093)]).toEqual([what, { code: 'CDI_ERR_VDI_INVALID' }]);
    }
  });

  it('refuses differencing and undo images and images naming a parent', async () => {
    await expectRefused(await small((b) => b.writeUInt32LE(4, 0x4c)), 'CDI_ERR_VDI_DIFFERENCING');
    await expectRefused(await small((b) => b.writeUInt32LE(3, 0x4c)), 'CDI_ERR_VDI_DIFFERENCING');
    await expectRefused(await small((b) => b.fill(0x5a, 0x1a8, 0x1b8)), 'CDI_ERR_VDI_DIFFERENCING');
    await expectRefused(await small((b) => b.fill(0x5a, 0x1b8, 0x1c8)), 'CDI_ERR_VDI_DIFFERENCING');
  });

  it('stops at the scratch limit when the map follows the data, and removes its scratch file', async () => {
    const bytes = await fixtureBytes('map-after-data');
    expect(await viaStream(bytes, 65_536, 64 * 1024)).toEqual({ code: 'CDI_ERR_SCRATCH_LIMIT' });
    expect(await readdir(scratch)).toEqual([]);
  });

  it('reports an abort with CDI_ERR_ABORTED', async () => {
    const bytes = await fixtureBytes('static-convert');
    const ac = new AbortController();
    const reader = await openVdiStream(chunked(bytes, 4096), { scratchDir: scratch, signal: ac.signal });
    const run = (async () => {
      for await (const _ of reader.extents()) ac.abort(new Error('stop'));
    })();
    await expect(run).rejects.toMatchObject({ code: 'CDI_ERR_ABORTED' });
    const random = await openVdiRandom(bufferInput(bytes), { signal: ac.signal });
    await expect(drain(random)).rejects.toMatchObject({ code: 'CDI_ERR_ABORTED' });
  });
});

describe('vdi refusals through the engine and the CLI', () => {
  it('leaves no target behind in file and pipe mode, and nothing in the scratch directory', async () => {
    const bytes = await small((b) => setMapEntry(b, 0, 1));
    const file = path.join(work, 'shared.vdi');
    await writeFile(file, bytes);
    for (const feed of ['file', 'pipe', 'bytes-random'] as const) {
      const target = path.join(work, `shared-${feed}.img`);
      expect(await codeOf(convertWith(feed, file, { kind: 'file', path: target }, { scratchDir: scratch }))).toBe('CDI_ERR_VDI_INVALID');
      expect(await exists(target)).toBe(false);
    }
    expect(await readdir(scratch)).toEqual([]);
  });

  it('exits non-zero with the coded message', async () => {
    const file = path.join(work, 'huge.vdi');
    await writeFile(file, await small((b) => b.writeBigUInt64LE(1n << 62n, 0x170)));
    const target = path.join(work, 'huge.img');
    const child = spawn(path.resolve(import.meta.dirname, '../../bin/cdi'), ['convert', file, target], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.resume();
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    expect(code).toBe(2);
    expect(stderr).toBe(`cdi: CDI_ERR_VDI_INVALID: invalid VDI image: disk size ${2n ** 62n} is larger than the VDI maximum ${0x3fffffff * MiB}\n`);
    expect(await exists(target)).toBe(false);
  });
});

describe('vdi large sparse virtual size', () => {
  it('reads a 2 TiB image with three blocks in bounded memory', async () => {
    const file = path.join(work, 'sparse.vdi');
    const TiB = 2 ** 40;
    const size = 2 * TiB;
    await qemuImg('create', '-q', '-f', 'vdi', file, String(size));
    await qemuIo(file, 'vdi', 'write -q -P 0x21 0 64k', `write -q -P 0x22 ${TiB} 64k`, `write -q -P 0x23 ${size - 65536} 64k`);
    const bytes = await readFile(file);
    expect(blocksAllocated(bytes)).toBe(3);
    for (const open of [
      () => openVdiRandom(bufferInput(bytes), {}),
      () => openVdiStream(chunked(bytes, 65536), { scratchDir: scratch }),
    ]) {
      const reader = await open();
      expect(reader.virtualSize).toBe(size);
      const data: { offset: number; data: Uint8Array }[] = [];
      for await (const e of reader.extents()) if (e.kind === 'data') data.push({ offset: e.offset, data: new Uint8Array(e.data) });
      const byteAt = (at: number): number | undefined => {
        const e = data.find((d) => at >= d.offset && at < d.offset + d.data.byteLength);
        return e?.data[at - e.offset];
      };
      expect(data.reduce((n, d) => n + d.data.byteLength, 0)).toBe(3 * MiB);
      expect([byteAt(0), byteAt(TiB + 65535), byteAt(size - 1), byteAt(size - 65537)]).toEqual([0x21, 0x22, 0x23, 0]);
      expect(reader.spillBytes()).toBe(0);
    }
  });
});
