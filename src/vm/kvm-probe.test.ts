import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { findTool } from '../node/tools.ts';
import { chooseAccelerator, probeKvm } from './kvm-probe.ts';

/**
 * The KVM probe runs a real test guest. Which answer it gives depends on the host (this project's
 * machines have a kvm-pvm /dev/kvm that opens but cannot run firmware; CI may have none, or a
 * working KVM), so the test checks that the answer is consistent with a real boot either way.
 */
describe('KVM probe', () => {
  it('answers within its time limit, with a reason naming KVM when KVM cannot run the test guest, and auto follows it', async () => {
    const qemu = await findTool('qemu-system-x86_64');
    if (!qemu) throw new Error('qemu-system-x86_64 is missing: scripts/install-deps.sh --vm');
    const probe = await probeKvm(qemu);
    if (!probe.ok) expect(probe.reason).toMatch(/KVM|kvm/);
    const opens = await fs.promises.access('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK).then(() => true, () => false);
    const auto = await chooseAccelerator('auto');
    if (!opens) expect(auto).toEqual({ accelerator: 'tcg', reason: '/dev/kvm does not open read-write' });
    else expect(auto).toEqual(probe.ok ? { accelerator: 'kvm' } : { accelerator: 'tcg', reason: probe.reason });
  }, 60_000);

  it('takes an explicit choice without probing', async () => {
    expect(await chooseAccelerator('tcg')).toEqual({ accelerator: 'tcg', reason: 'cdi serve --vm-accelerator tcg' });
    expect(await chooseAccelerator('kvm')).toEqual({ accelerator: 'kvm' });
  });
});
