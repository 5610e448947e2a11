/**
 * Hostile and broken qcow2 images: each is refused by both readers with a coded error, and
 * nothing is emitted past the virtual size. Images are real qemu-img output with bytes patched.
 */
import { deflateRawSync } from 'node:zlib';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCdiError, type ErrorCode } from '../../src/api/errors.ts';
import { openQcow2Random, openQcow2Stream } from '../../src/format/qcow2/index.ts';
import { qemuImg, qemuIo } from '../support/qemu.ts';
import { built, fixtures } from './fixtures.ts';
import { bufferInput, chunked, drain } from './harness.ts';

let work: string;
let scratch: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'qcow2-bad-'));
  scratch = path.join(work, 'scratch');
  await import('node:fs/promises').then((fs) => fs.mkdir(scratch));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function fixtureBytes(name: string): Promise<Buffer> {
  const f = fixtures.find((x) => x.name === name);
  if (!f) throw new Error(`no fixture ${name}`);
  return readFile((await built(f)).file);
}

async function qemuMade(name: string, ...createArgs: string[]): Promise<Buffer> {
  const file = path.join(work, name);
  const args = createArgs.map((a) => a.replaceAll('$WORK', work));
  const size = args.pop()!;
  await qemuImg('create', '-q', '-f', 'qcow2', ...args, file, size);
  return readFile(file);
}

/**
 * qemu-img times a first PBKDF round on the thread's CPU clock and gives up ("Unable to get
 * accurate CPU usage") when that round measured 0 ms: here 1 run in 4 with SHA-256, none in 20
 * with SHA-512, whose rounds take longer. SHA-512, and a few retries for a busy machine.
 */
async function luksImage(): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await qemuMade('luks.qcow2', '--object', 'secret,id=s0,data=pw', '-o', 'encrypt.format=luks,encrypt.key-secret=s0,encrypt.hash-alg=sha512,encrypt.iter-time=100', '1M');
    } catch (err) {
      if (!/accurate CPU usage/.test(String(err)) || attempt === 6) throw err;
    }
  }
}

const u32 = (b: Buffer, at: number): number => b.readUInt32BE(at);
const u64 = (b: Buffer, at: number): number => Number(b.readBigUInt64BE(at));
const setU64 = (b: Buffer, at: number, v: bigint | number): void => {
  b.writeBigUInt64BE(BigInt(v), at);
};
const clusterSize = (b: Buffer): number => 2 ** u32(b, 20);
const l1Offset = (b: Buffer): number => u64(b, 40);
/** Host offset of the first allocated L2 table. */
function firstL2(b: Buffer): { entryAt: number; table: number } {
  for (let at = l1Offset(b); ; at += 8) {
    const table = u64(b, at) & 0x00fffffffffffe00;
    if (table !== 0) return { entryAt: at, table };
  }
}
/** File offset of the first L2 entry that matches `pred`. */
function findL2Entry(b: Buffer, pred: (e: bigint) => boolean): number {
  const { table } = firstL2(b);
  for (let at = table; at < table + clusterSize(b); at += 8) if (pred(b.readBigUInt64BE(at))) return at;
  throw new Error('no such L2 entry');
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

async function viaRandom(bytes: Uint8Array): Promise<Outcome> {
  return outcome(async () => drain(await openQcow2Random(bufferInput(bytes), {})));
}

async function viaStream(bytes: Uint8Array, chunking: 'whole' | number = 'whole', spillLimit?: number): Promise<Outcome> {
  return outcome(async () => drain(await openQcow2Stream(chunked(bytes, chunking), { scratchDir: scratch, ...(spillLimit ? { spillLimit } : {}) })));
}

async function expectRefused(bytes: Uint8Array, random: ErrorCode, stream: ErrorCode = random): Promise<void> {
  expect(await viaRandom(bytes)).toEqual({ code: random });
  expect(await viaStream(bytes)).toEqual({ code: stream });
  expect(await viaStream(bytes, 4093)).toEqual({ code: stream });
}

describe('qcow2 refusals', () => {
  it('refuses a backing file, naming it', async () => {
    await qemuImg('create', '-q', '-f', 'qcow2', path.join(work, 'base.qcow2'), '1M');
    const bytes = await qemuMade('top.qcow2', '-b', '$WORK/base.qcow2', '-F', 'qcow2', '1M');
    await expectRefused(bytes, 'CDI_ERR_QCOW2_BACKING_FILE');
    await expect(openQcow2Random(bufferInput(bytes), {})).rejects.toThrow(/invalid backing file .*base\.qcow2/);
  });

  it('refuses an external data file', async () => {
    const bytes = await qemuMade('ext.qcow2', '-o', 'data_file=$WORK/ext.raw', '1M');
    await expectRefused(bytes, 'CDI_ERR_QCOW2_DATA_FILE');
    const flagOnly = await fixtureBytes('small-64k');
    flagOnly[79] = flagOnly[79]! | 0x04;
    await expectRefused(flagOnly, 'CDI_ERR_QCOW2_DATA_FILE');
  });

  it('refuses LUKS and AES encryption', async () => {
    const luks = await luksImage();
    await expectRefused(luks, 'CDI_ERR_QCOW2_ENCRYPTED');
    await expect(openQcow2Random(bufferInput(luks), {})).rejects.toThrow(/luks/);
    const aes = await fixtureBytes('small-64k');
    aes.writeUInt32BE(1, 32);
    await expectRefused(aes, 'CDI_ERR_QCOW2_ENCRYPTED');
    await expect(openQcow2Random(bufferInput(aes), {})).rejects.toThrow(/aes/);
  });

  it('refuses unknown incompatible feature bits and a corrupt image', async () => {
    for (const bit of [5n, 31n, 40n, 63n]) {
      const bytes = await fixtureBytes('small-64k');
      setU64(bytes, 72, bytes.readBigUInt64BE(72) | (1n << bit));
      await expectRefused(bytes, 'CDI_ERR_QCOW2_FEATURE');
    }
    const corrupt = await fixtureBytes('small-64k');
    corrupt[79] = corrupt[79]! | 0x02;
    await expectRefused(corrupt, 'CDI_ERR_QCOW2_INVALID');
  });

  it('refuses cluster_bits outside 9..21, bad magic and bad versions', async () => {
    for (const bits of [0, 8, 22, 64]) {
      const bytes = await fixtureBytes('small-64k');
      bytes.writeUInt32BE(bits, 20);
      await expectRefused(bytes, 'CDI_ERR_QCOW2_INVALID');
    }
    // Version 1 is qemu's older `qcow` format, refused as a format rather than as a broken qcow2.
    for (const [version, code] of [[1, 'CDI_ERR_INVALID_FORMAT'], [4, 'CDI_ERR_QCOW2_INVALID']] as const) {
      const bytes = await fixtureBytes('small-64k');
      bytes.writeUInt32BE(version, 4);
      await expectRefused(bytes, code);
    }
    const magic = await fixtureBytes('small-64k');
    magic[3] = 0;
    await expectRefused(magic, 'CDI_ERR_QCOW2_INVALID');
  });

  it('refuses an absurdly large L1 table ("L1 size too big")', async () => {
    const bytes = await fixtureBytes('small-64k');
    bytes.writeUInt32BE(0x02000000, 36);
    await expectRefused(bytes, 'CDI_ERR_QCOW2_L1_TOO_BIG');
    await expect(openQcow2Random(bufferInput(bytes), {})).rejects.toThrow(/L1 size too big/);
    // a virtual size that would need more than qemu's 32 MiB of L1
    const huge = await fixtureBytes('v3-512');
    setU64(huge, 24, 1n << 50n);
    huge.writeUInt32BE(0x7fffffff, 36);
    await expectRefused(huge, 'CDI_ERR_QCOW2_L1_TOO_BIG');
  });

  it('refuses an L1 smaller than the virtual size needs, and unaligned or reserved table entries', async () => {
    const small = await fixtureBytes('v3-512');
    small.writeUInt32BE(1, 36);
    await expectRefused(small, 'CDI_ERR_QCOW2_INVALID');
    const unaligned = await fixtureBytes('small-64k');
    const { entryAt } = firstL2(unaligned);
    setU64(unaligned, entryAt, unaligned.readBigUInt64BE(entryAt) + 512n);
    await expectRefused(unaligned, 'CDI_ERR_QCOW2_INVALID');
    const reserved = await fixtureBytes('small-64k');
    const at = findL2Entry(reserved, (e) => e !== 0n);
    setU64(reserved, at, reserved.readBigUInt64BE(at) | 0x2n);
    await expectRefused(reserved, 'CDI_ERR_QCOW2_INVALID');
  });

  it('refuses table and cluster offsets past the end of the file', async () => {
    const l1 = await fixtureBytes('small-64k');
    setU64(l1, 40, 1n << 40n);
    await expectRefused(l1, 'CDI_ERR_QCOW2_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    const l2 = await fixtureBytes('small-64k');
    setU64(l2, firstL2(l2).entryAt, (1n << 63n) | (BigInt(l2.byteLength) + 65536n * 3n));
    await expectRefused(l2, 'CDI_ERR_QCOW2_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    const data = await fixtureBytes('small-64k');
    setU64(data, findL2Entry(data, (e) => e !== 0n), (1n << 63n) | (1n << 52n));
    await expectRefused(data, 'CDI_ERR_QCOW2_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
    const beyondSafe = await fixtureBytes('small-64k');
    setU64(beyondSafe, findL2Entry(beyondSafe, (e) => e !== 0n), 0x00ff_ffff_ffff_0000n);
    await expectRefused(beyondSafe, 'CDI_ERR_QCOW2_OUT_OF_BOUNDS', 'CDI_ERR_QCOW2_OUT_OF_BOUNDS');
    const compressed = await fixtureBytes('small-zlib-4k');
    const at = findL2Entry(compressed, (e) => (e & (1n << 62n)) !== 0n);
    setU64(compressed, at, (1n << 62n) | BigInt(compressed.byteLength + 4096));
    await expectRefused(compressed, 'CDI_ERR_QCOW2_OUT_OF_BOUNDS', 'CDI_ERR_TRUNCATED');
  });

  it('emits nothing past the virtual size when the header shrinks it below mapped data', async () => {
    const bytes = await fixtureBytes('small-64k');
    setU64(bytes, 24, 192 * 1024 + 512);
    for (const run of [viaRandom, viaStream]) {
      const result = await run(bytes);
      expect(result).toHaveProperty('ok');
    }
  });

  it('refuses a truncated image or stream', async () => {
    const full = await fixtureBytes('small-64k');
    for (const cut of [0, 50, 100, 65536, full.byteLength - 70000, full.byteLength - 1]) {
      const bytes = full.subarray(0, cut);
      const random = await viaRandom(bytes);
      expect(['CDI_ERR_TRUNCATED', 'CDI_ERR_QCOW2_OUT_OF_BOUNDS']).toContain((random as { code: string }).code);
      expect(await viaStream(bytes)).toEqual({ code: 'CDI_ERR_TRUNCATED' });
      expect(await viaStream(bytes, 1000)).toEqual({ code: 'CDI_ERR_TRUNCATED' });
    }
  });

  it('refuses a compressed cluster that inflates to more than one cluster', async () => {
    const bytes = await fixtureBytes('small-zlib-4k');
    const at = findL2Entry(bytes, (e) => (e & (1n << 62n)) !== 0n);
    const host = Number(bytes.readBigUInt64BE(at) & ((1n << 58n) - 1n));
    const bomb = deflateRawSync(Buffer.alloc(3 * 4096, 0x5a));
    bomb.copy(bytes, host);
    await expectRefused(bytes, 'CDI_ERR_BAD_COMPRESSED_CLUSTER');
    await expect(openQcow2Random(bufferInput(bytes), {}).then(drain)).rejects.toThrow(/more than one cluster/);
  });

  it('refuses compressed clusters that fail to inflate (zlib and zstd) or inflate short', async () => {
    for (const name of ['small-zlib-4k', 'small-zstd-4k']) {
      const bytes = await fixtureBytes(name);
      const at = findL2Entry(bytes, (e) => (e & (1n << 62n)) !== 0n);
      const host = Number(bytes.readBigUInt64BE(at) & ((1n << 58n) - 1n));
      bytes.fill(0xff, host, host + 64);
      await expectRefused(bytes, 'CDI_ERR_BAD_COMPRESSED_CLUSTER');
    }
    const short = await fixtureBytes('small-zlib-4k');
    const at = findL2Entry(short, (e) => (e & (1n << 62n)) !== 0n);
    const host = Number(short.readBigUInt64BE(at) & ((1n << 58n) - 1n));
    deflateRawSync(Buffer.alloc(1000, 0x5a)).copy(short, host);
    await expectRefused(short, 'CDI_ERR_BAD_COMPRESSED_CLUSTER');
  });

  it('refuses a corrupt compressed cluster inside a big batch (inflated off the main thread)', async () => {
    const bytes = await fixtureBytes('zstd-16k-regions');
    const { table } = firstL2(bytes);
    let corrupted = 0;
    for (let at = table + 8 * 40; at < table + clusterSize(bytes) && corrupted < 1; at += 8) {
      const e = bytes.readBigUInt64BE(at);
      if ((e & (1n << 62n)) === 0n) continue;
      const host = Number(e & ((1n << 56n) - 1n));
      bytes.fill(0x33, host, host + 32);
      corrupted++;
    }
    await expectRefused(bytes, 'CDI_ERR_BAD_COMPRESSED_CLUSTER');
  });

  it('refuses a header that lies about its length or overruns its extensions', async () => {
    for (const length of [96, 100, 105, 0x20000, 0xffffffff]) {
      const bytes = await fixtureBytes('small-64k');
      bytes.writeUInt32BE(length, 100);
      await expectRefused(bytes, 'CDI_ERR_QCOW2_INVALID');
    }
    const ext = await fixtureBytes('small-64k');
    const first = u32(ext, 100);
    ext.writeUInt32BE(0x7fff0000, first + 4);
    await expectRefused(ext, 'CDI_ERR_QCOW2_INVALID');
  });

  it('refuses inconsistent compression settings', async () => {
    const unknownType = await fixtureBytes('small-zstd-4k');
    unknownType[104] = 2;
    await expectRefused(unknownType, 'CDI_ERR_QCOW2_INVALID');
    const noBit = await fixtureBytes('small-zstd-4k');
    noBit[79] = noBit[79]! & ~0x08;
    await expectRefused(noBit, 'CDI_ERR_QCOW2_INVALID');
  });

  it('refuses invalid extended L2 subcluster bitmaps', async () => {
    const bytes = await fixtureBytes('small-extl2-16k');
    const { table } = firstL2(bytes);
    // both "allocated" and "zero" for subcluster 0 of the first cluster
    bytes.writeUInt32BE(1, table + 8);
    bytes.writeUInt32BE(1, table + 12);
    await expectRefused(bytes, 'CDI_ERR_QCOW2_INVALID');
  });

  it('stops at the scratch limit and removes its scratch file', async () => {
    const bytes = await fixtureBytes('resized-l1-at-end');
    expect(await viaStream(bytes, 'whole', 64 * 1024)).toEqual({ code: 'CDI_ERR_SCRATCH_LIMIT' });
    expect(await readdir(scratch)).toEqual([]);
  });

  it('reports an abort with CDI_ERR_ABORTED', async () => {
    const bytes = await fixtureBytes('v3-64k');
    const ac = new AbortController();
    const reader = await openQcow2Stream(chunked(bytes, 4096), { scratchDir: scratch, signal: ac.signal });
    const run = (async () => {
      for await (const _ of reader.extents()) ac.abort(new Error('stop'));
    })();
    await expect(run).rejects.toMatchObject({ code: 'CDI_ERR_ABORTED' });
    const random = await openQcow2Random(bufferInput(bytes), { signal: ac.signal });
    await expect(drain(random)).rejects.toMatchObject({ code: 'CDI_ERR_ABORTED' });
    expect(await readdir(scratch)).toEqual([]);
  });
});

describe('qcow2 large sparse virtual size', () => {
  it('reads a 15 TiB image with three clusters in bounded memory', async () => {
    const file = path.join(work, 'sparse.qcow2');
    const TiB = 2 ** 40;
    const size = 15 * TiB;
    await qemuImg('create', '-q', '-f', 'qcow2', file, String(size));
    await qemuIo(file, 'qcow2', 'write -q -P 0x21 0 64k', `write -q -P 0x22 ${7 * TiB} 64k`, `write -q -P 0x23 ${size - 65536} 64k`);
    const bytes = await readFile(file);
    for (const open of [
      () => openQcow2Random(bufferInput(bytes), {}),
      () => openQcow2Stream(chunked(bytes, 65536), { scratchDir: scratch }),
    ]) {
      const reader = await open();
      expect(reader.virtualSize).toBe(size);
      const before = process.memoryUsage();
      let peak = 0;
      const seen: [number, number][] = [];
      for await (const e of reader.extents()) {
        if (e.kind === 'data') seen.push([e.offset, e.data[0]!]);
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers - before.heapUsed - before.arrayBuffers);
      }
      expect(seen).toEqual([[0, 0x21], [7 * TiB, 0x22], [size - 65536, 0x23]]);
      expect(peak).toBeLessThan(64 * 1024 * 1024);
      expect(reader.spillBytes()).toBe(0);
    }
  });
});
