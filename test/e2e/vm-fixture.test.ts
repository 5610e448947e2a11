import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { buildBootableDisk, GuestLines } from '../support/bootable-disk.ts';
import { cacheDir } from '../support/qemu.ts';

const run = promisify(execFile);

/** The VM tests' disk boots on plain QEMU (TCG) before the product is involved. */
describe('bootable test disk', () => {
  it('boots under qemu-system-x86_64 to its init, which prints the marker and the payload digest and powers off', async () => {
    const disk = await buildBootableDisk(await cacheDir('vm'), { marker: 'fixture-check', payload: Buffer.from('the payload the guest digests\n') });
    const { stdout } = await run('qemu-system-x86_64', ['-accel', 'tcg', '-m', '256', '-nodefaults', '-nographic', '-no-reboot', '-serial', 'stdio', '-drive', `file=${disk.path},format=raw,if=virtio`], {
      timeout: 110_000,
      maxBuffer: 16 << 20,
    });
    expect(stdout).toContain(GuestLines.marker('fixture-check'));
    expect(stdout).toContain(GuestLines.payload(disk.payloadSha256));
    expect(stdout).toContain(GuestLines.poweroff);
  });
});
