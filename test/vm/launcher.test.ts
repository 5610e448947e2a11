import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Domain } from '../../src/vm/domain.ts';
import { createLogger } from '../../src/log.ts';
import { runLauncher } from '../../src/vm/launcher.ts';
import { qemuImg } from '../support/qemu.ts';

/**
 * The launcher's checks on a containerDisk before QEMU starts, on images qemu-img makes: a qcow2
 * that names a backing file would make QEMU open a path on this machine, so it is refused.
 */
let dir: string;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const domain = (disk: Partial<Domain['disks'][number]>): Domain => ({
  name: 'vm1',
  memoryBytes: 64 << 20,
  cores: 1,
  firmware: 'bios',
  accelerator: 'tcg',
  disks: [{ name: 'root', path: '/var/run/kubevirt/container-disks/root/disk/disk.img', bus: 'virtio', cdrom: false, readOnly: false, ephemeral: true, ...disk }],
});

describe('launcher: containerDisk checks', () => {
  it('refuses a qcow2 containerDisk with a backing file before QEMU runs, and writes nothing', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-launcher-'));
    const disks = path.join(dir, 'cd');
    await qemuImg('create', '-f', 'raw', path.join(dir, 'secret.raw'), '1M');
    await mkdir(path.join(disks, 'disk'), { recursive: true });
    await qemuImg('create', '-f', 'qcow2', '-F', 'raw', '-b', path.join(dir, 'secret.raw'), path.join(disks, 'disk', 'disk.img'));
    const before = await readdir(dir);
    const run = runLauncher(
      { domain: domain({}), mounts: [{ podPath: '/var/run/kubevirt/container-disks/root', hostPath: disks }], hostPorts: new Map(), consoleLog: path.join(dir, 'console.log'), terminationLog: path.join(dir, 'termination') },
      createLogger('test', 'silent'),
    );
    await expect(run).rejects.toThrow('containerDisk root: the qcow2 image names a backing file, which a containerDisk cannot have');
    expect(await readdir(dir)).toEqual(before);
  });

  it('says when the pulled disk is not there', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-launcher-'));
    const run = runLauncher(
      { domain: domain({}), mounts: [{ podPath: '/var/run/kubevirt/container-disks/root', hostPath: path.join(dir, 'cd') }], hostPorts: new Map(), consoleLog: path.join(dir, 'console.log'), terminationLog: path.join(dir, 'termination') },
      createLogger('test', 'silent'),
    );
    await expect(run).rejects.toThrow('containerDisk root: cannot open the pulled disk: ENOENT');
  });
});
