import { execFile } from 'node:child_process';
import { statfs, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../../test/format/helpers.ts';
import { usableSpace } from '../api/quantity.ts';
import { deviceSize } from '../format/device-size.ts';
import { availableSpace, volumeSpace } from './volume-capacity.ts';

const run = promisify(execFile);
const MiB = 2 ** 20;

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

/** A loop device over a file, when this machine lets us make one (root with /dev/loop-control). */
async function loopDevice(file: string): Promise<string | undefined> {
  try {
    return (await run('losetup', ['--find', '--show', file])).stdout.trim();
  } catch {
    return undefined;
  }
}

describe('volume capacity', () => {
  it("is CDI's free space where the target lives, plus an earlier attempt's file, capped by the request", async () => {
    const target = path.join(dir, 'disk.img');
    const free = async (): Promise<number> => { const fs = await statfs(dir); return fs.bavail * fs.bsize; };
    const before = await availableSpace({ kind: 'file', path: target }, undefined);
    expect(Math.abs(before - (await free()))).toBeLessThan(64 * MiB); // others write on this disk too
    await writeFile(target, Buffer.alloc(4 * MiB, 1));
    const withLeftover = await availableSpace({ kind: 'file', path: target }, undefined);
    expect(Math.abs(withLeftover - (await free()) - 4 * MiB)).toBeLessThan(64 * MiB);
    expect(await availableSpace({ kind: 'file', path: target }, 10 * MiB)).toBe(10 * MiB);
    expect(await availableSpace({ kind: 'directory', path: dir }, 3 * MiB)).toBe(3 * MiB);
  });

  it('grows a file target to the usable size and leaves a directory its own', async () => {
    const file = await volumeSpace({ kind: 'file', path: path.join(dir, 'new.img') }, 16 * MiB, 0.055);
    expect(file).toEqual({ capacity: usableSpace(16 * MiB, 0.055), size: 15 * MiB });
    expect(await volumeSpace({ kind: 'directory', path: dir }, 16 * MiB, 0)).toEqual({ capacity: 16 * MiB, size: undefined });
    const unknown = await volumeSpace({ kind: 'file', path: path.join(dir, 'new.img') }, undefined, 0);
    expect(unknown.size).toBeUndefined();
  });

  it('refuses a target whose directory is missing with a coded error', async () => {
    await expect(volumeSpace({ kind: 'file', path: path.join(dir, 'missing', 'disk.img') }, MiB, 0)).rejects.toMatchObject({ code: 'CDI_ERR_TARGET' });
    await expect(volumeSpace({ kind: 'block', path: path.join(dir, 'no-device') }, undefined, 0)).rejects.toMatchObject({ code: 'CDI_ERR_TARGET' });
  });

  it("takes a regular file's size as a block target's", async () => {
    const file = path.join(dir, 'as-block.img');
    await writeFile(file, '');
    await truncate(file, 5 * MiB + 512);
    expect(await deviceSize(file)).toBe(5 * MiB + 512);
    expect(await volumeSpace({ kind: 'block', path: file }, undefined, 0.5)).toEqual({ capacity: 5 * MiB + 512, size: undefined });
  });

  it('finds a block device\'s size as blockdev --getsize64 reports it', async (context) => {
    const backing = path.join(dir, 'loop-backing.img');
    await writeFile(backing, '');
    await truncate(backing, 3 * MiB + 7 * 512);
    const device = await loopDevice(backing);
    if (!device) return context.skip('no loop device here (needs root and /dev/loop-control)');
    try {
      const reference = Number((await run('blockdev', ['--getsize64', device])).stdout.trim());
      expect(reference).toBe(3 * MiB + 7 * 512);
      expect(await deviceSize(device)).toBe(reference);
      expect(await volumeSpace({ kind: 'block', path: device }, 99 * MiB, 0.055)).toEqual({ capacity: reference, size: undefined });
    } finally {
      await run('losetup', ['--detach', device]);
    }
  });
});
