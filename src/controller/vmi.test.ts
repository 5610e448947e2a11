import { describe, expect, it } from 'vitest';
import { buildDomain } from '../vm/domain.ts';
import type { VirtualMachineInstance } from '../vm/types.ts';
import { launcherPod, vmiStatusFromPod } from './vmi.ts';

const vmi: VirtualMachineInstance = {
  metadata: { name: 'vm1', namespace: 'ns', uid: 'vmi-uid' },
  spec: {
    domain: { devices: { disks: [{ name: 'root' }], interfaces: [{ name: 'default', masquerade: {}, ports: [{ port: 22 }] }] } },
    networks: [{ name: 'default', pod: {} }],
    volumes: [{ name: 'root', dataVolume: { name: 'root-dv' } }],
  },
};

function pod(accelerator: 'kvm' | 'tcg') {
  const built = buildDomain('vm1', vmi.spec ?? {}, new Map([['root-dv', { block: false }]]), accelerator);
  if (!built.ok) throw new Error(built.problems.join('; '));
  return launcherPod(vmi, built.domain, built.volumes, 'abcde');
}

describe('launcherPod', () => {
  it("is KubeVirt's virt-launcher pod", () => {
    const p = pod('kvm');
    expect(p.metadata?.name).toBe('virt-launcher-vm1-abcde');
    expect(p.metadata?.labels).toEqual({ 'kubevirt.io': 'virt-launcher', 'vm.kubevirt.io/name': 'vm1', 'kubevirt.io/created-by': 'vmi-uid' });
    expect(p.spec?.containers.map((c) => c.name)).toEqual(['compute', 'guest-console-log']);
    expect(p.spec?.containers[0]?.resources?.limits).toEqual({ 'devices.kubevirt.io/kvm': '1' });
    expect(p.spec?.containers[0]?.ports).toEqual([{ containerPort: 22, protocol: 'TCP' }]);
    expect(pod('tcg').spec?.containers[0]?.resources?.limits).toBeUndefined();
  });
});

describe('vmiStatusFromPod', () => {
  it("follows the launcher pod through KubeVirt's phases", () => {
    const p = pod('tcg');
    expect(vmiStatusFromPod(vmi, p, { accelerator: 'tcg' }, 't')?.phase).toBe('Scheduling');
    const scheduled = { ...p, metadata: { ...p.metadata, uid: 'pod-uid' }, spec: { ...p.spec!, nodeName: 'node' } };
    expect(vmiStatusFromPod(vmi, scheduled, { accelerator: 'tcg' }, 't')?.phase).toBe('Scheduled');
    const running = { ...scheduled, status: { phase: 'Running', containerStatuses: [{ name: 'compute', state: { running: {} } }] } } as never;
    const status = vmiStatusFromPod(vmi, running, { accelerator: 'tcg', reason: 'the probe said so' }, 't');
    expect(status?.phase).toBe('Running');
    expect(status?.activePods).toEqual({ 'pod-uid': 'node' });
    expect(status?.conditions?.map((c) => [c.type, c.status])).toEqual([['Ready', 'True'], ['SoftwareEmulation', 'True']]);
    expect(status?.conditions?.[1]?.message).toBe('VM running with software emulation (QEMU TCG): KVM is not used: the probe said so');
    const failed = { ...scheduled, status: { phase: 'Failed', containerStatuses: [{ name: 'compute', state: { terminated: { exitCode: 1, message: 'no bootable disk' } } }] } } as never;
    const f = vmiStatusFromPod(vmi, failed, { accelerator: 'kvm' }, 't');
    expect(f?.phase).toBe('Failed');
    expect(f?.conditions).toEqual([{ type: 'Ready', status: 'False', reason: 'GuestNotRunning', message: 'no bootable disk', lastProbeTime: null, lastTransitionTime: 't' }]);
  });

  it('reports a containerDisk the node cannot pull as Synchronized=False with the container\'s waiting reason and message', () => {
    const p = pod('tcg');
    const waiting = { ...p, status: { phase: 'Pending', containerStatuses: [{ name: 'compute', state: { waiting: { reason: 'ErrImagePull', message: 'image volume root r/x:v1: Failed to find VM disk image file in the container image' } } }] } } as never;
    const s = vmiStatusFromPod(vmi, waiting, { accelerator: 'kvm' }, 't');
    expect(s?.conditions?.find((c) => c.type === 'Synchronized')).toMatchObject({ status: 'False', reason: 'ErrImagePull', message: 'image volume root r/x:v1: Failed to find VM disk image file in the container image' });
  });
});
