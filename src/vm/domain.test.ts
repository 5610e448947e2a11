import { describe, expect, it } from 'vitest';
import { buildDomain } from './domain.ts';
import { qemuArgv } from './qemu-argv.ts';
import type { VirtualMachineInstanceSpec } from './types.ts';

const claims = new Map([
  ['root-dv', { block: false }],
  ['raw-block', { block: true }],
]);

describe('buildDomain', () => {
  it('maps disks, cdroms, boot order, memory, cores, EFI and forwarded ports from the VMI spec', () => {
    const spec: VirtualMachineInstanceSpec = {
      domain: {
        cpu: { cores: 2, sockets: 1, threads: 1 },
        resources: { requests: { memory: '512Mi' } },
        firmware: { bootloader: { efi: { secureBoot: false } } },
        devices: {
          disks: [
            { name: 'root', disk: { bus: 'virtio' }, bootOrder: 2 },
            { name: 'install', cdrom: { bus: 'sata' }, bootOrder: 1 },
            { name: 'scratch', disk: { bus: 'scsi' } },
          ],
          interfaces: [{ name: 'default', masquerade: {}, ports: [{ port: 22 }, { port: 53, protocol: 'UDP' }] }],
        },
      },
      networks: [{ name: 'default', pod: {} }],
      volumes: [
        { name: 'root', dataVolume: { name: 'root-dv' } },
        { name: 'install', persistentVolumeClaim: { claimName: 'raw-block' } },
        { name: 'scratch', emptyDisk: { capacity: '1Gi' } },
      ],
    };
    const r = buildDomain('vm1', spec, claims, 'kvm');
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.domain).toMatchObject({ memoryBytes: 512 * 2 ** 20, cores: 2, firmware: 'efi', accelerator: 'kvm' });
    expect(r.domain.disks).toEqual([
      { name: 'root', path: '/var/run/kubevirt-private/vmi-disks/root/disk.img', bus: 'virtio', cdrom: false, readOnly: false, bootOrder: 2 },
      { name: 'install', path: '/dev/install', bus: 'sata', cdrom: true, readOnly: true, bootOrder: 1 },
      { name: 'scratch', path: '/var/run/kubevirt-ephemeral-disks/scratch/disk.img', bus: 'scsi', cdrom: false, readOnly: false, createBytes: 2 ** 30 },
    ]);
    expect(r.volumes.map((v) => [v.name, v.block])).toEqual([['root', false], ['install', true], ['scratch', false]]);
    expect(r.domain.network).toEqual({ model: 'virtio-net-pci', ports: [{ port: 22, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] });

    const argv = qemuArgv({ domain: r.domain, hostPath: (p) => `/host${p}`, consoleLog: '/host/console.log', hostPorts: new Map([[22, 40022], [53, 40053]]), efi: { code: '/ovmf/code.fd', vars: '/host/vars.fd' } }).join(' ');
    expect(argv).toContain('-machine q35,accel=kvm');
    expect(argv).toContain('-m 512M -smp 2');
    expect(argv).toContain('virtio-blk-pci,drive=disk0,id=disk0-dev,bootindex=2');
    expect(argv).toContain('ide-cd,bus=ide.0,drive=disk1,id=disk1-dev,bootindex=1');
    expect(argv).toContain('scsi-hd,bus=scsi0.0,drive=disk2,id=disk2-dev,bootindex=3');
    expect(argv).toContain('hostfwd=tcp:127.0.0.1:40022-:22,hostfwd=udp:127.0.0.1:40053-:53');
    expect(argv).toContain('if=pflash,format=raw,unit=0,readonly=on,file=/ovmf/code.fd');
    expect(argv).toContain('-chardev file,id=serial0,path=/host/console.log');
  });

  it('doubles commas in file names, as QEMU option syntax needs', () => {
    const r = buildDomain('vm1', { volumes: [{ name: 'root', dataVolume: { name: 'root-dv' } }] }, claims, 'tcg');
    if (!r.ok) throw new Error(r.problems.join('; '));
    const argv = qemuArgv({ domain: r.domain, hostPath: () => '/data/a,b/disk.img', consoleLog: '/c', hostPorts: new Map() });
    expect(argv).toContain('driver=file,node-name=disk0-file,filename=/data/a,,b/disk.img');
  });

  it('refuses every feature the runtime cannot provide, all named at once', () => {
    const spec: VirtualMachineInstanceSpec = {
      evictionStrategy: 'LiveMigrate',
      domain: {
        cpu: { cores: 1, dedicatedCpuPlacement: true },
        firmware: { bootloader: { efi: { persistent: true } } },
        devices: {
          disks: [{ name: 'root', lun: {} }, { name: 'ctr', disk: { bus: 'usb' } }, { name: 'hp' }],
          gpus: [{ name: 'g' }],
          hostDevices: [{ name: 'h' }],
          interfaces: [{ name: 'net', sriov: {} }],
        },
      },
      networks: [{ name: 'net', multus: { networkName: 'x' } }],
      volumes: [
        { name: 'root', dataVolume: { name: 'root-dv' } },
        { name: 'ctr', containerDisk: { image: 'quay.io/x' } },
        { name: 'ctr2', containerDisk: { image: '', imagePullPolicy: 'Sometimes', path: '../etc/passwd', sidecar: true } },
        { name: 'hp', dataVolume: { name: 'root-dv', hotpluggable: true } as never },
        { name: 'gone', persistentVolumeClaim: { claimName: 'nope' } },
      ],
    };
    const r = buildDomain('vm1', spec, claims, 'tcg');
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.problems).toEqual([
      'spec.evictionStrategy LiveMigrate (live migration) is not supported by the local VM runtime',
      'spec.domain.devices.gpus is not supported by the local VM runtime',
      'spec.domain.devices.hostDevices is not supported by the local VM runtime',
      'spec.domain.cpu.dedicatedCpuPlacement is not supported by the local VM runtime',
      'spec.domain.firmware.bootloader.efi.secureBoot (true by default) is not supported by the local VM runtime: set secureBoot: false',
      'spec.domain.firmware.bootloader.efi.persistent (the EFI variables live as long as the launcher pod) is not supported by the local VM runtime',
      'spec.domain.devices.disks[0].lun is not supported by the local VM runtime',
      'spec.domain.devices.disks[1]: bus usb is not supported by the local VM runtime (virtio, sata, scsi)',
      'volume hp: hotplug volumes are not supported by the local VM runtime',
      'volume ctr2: containerDisk.sidecar is not supported by the local VM runtime',
      'volume ctr2: containerDisk.image is required',
      'volume ctr2: containerDisk.imagePullPolicy "Sometimes" is not one of Always, IfNotPresent, Never',
      'volume ctr2: containerDisk.path "../etc/passwd" is not a file path inside the image',
      'volume gone: PersistentVolumeClaim nope not found',
      'spec.networks[0]: Multus networks are not supported by the local VM runtime',
      'interface net: SR-IOV is not supported by the local VM runtime',
    ]);
  });

  it('refuses a VMI with no disk, a disk without its volume, and cloud-init without user data', () => {
    expect(buildDomain('v', {}, claims, 'tcg')).toEqual({ ok: false, problems: ['the VMI has no disk to boot from'] });
    const r = buildDomain('v', { domain: { devices: { disks: [{ name: 'a' }] } }, volumes: [{ name: 'ci', cloudInitNoCloud: {} }] }, claims, 'tcg');
    expect(r.ok ? [] : r.problems).toEqual(['spec.domain.devices.disks[0]: disk a has no volume of that name', 'volume ci: cloud-init needs userData, userDataBase64 or secretRef']);
  });

  it('makes a containerDisk an image volume of the pod: the /disk file by default, a path as the mount\'s subPath; never written (snapshot=on)', () => {
    const spec: VirtualMachineInstanceSpec = {
      domain: { devices: { disks: [{ name: 'a', disk: {} }, { name: 'b', cdrom: {} }] } },
      volumes: [
        { name: 'a', containerDisk: { image: 'registry.local:5000/vms/a:v1', imagePullSecret: 'pull' } },
        { name: 'b', containerDisk: { image: 'registry.local:5000/vms/b', imagePullPolicy: 'Never', path: '/custom/b.iso', imagePullSecret: 'pull' } },
      ],
    };
    const r = buildDomain('v', spec, claims, 'tcg');
    if (!r.ok) throw new Error(r.problems.join('; '));
    expect(r.imagePullSecrets).toEqual(['pull']);
    expect(r.volumes).toEqual([
      { name: 'a', source: { image: 'registry.local:5000/vms/a:v1' }, podPath: '/var/run/kubevirt/container-disks/a', block: false },
      { name: 'b', source: { image: 'registry.local:5000/vms/b', pullPolicy: 'Never' }, podPath: '/var/run/kubevirt/container-disks/b.img', subPath: 'custom/b.iso', block: false },
    ]);
    expect(r.domain.disks.map((d) => [d.path, d.ephemeral, d.readOnly])).toEqual([
      ['/var/run/kubevirt/container-disks/a/disk/disk.img', true, false],
      ['/var/run/kubevirt/container-disks/b.img', true, true],
    ]);
    const argv = qemuArgv({ domain: r.domain, hostPath: (p) => `/host${p}`, consoleLog: '/c', hostPorts: new Map(), formats: new Map([['a', 'qcow2']]) });
    expect(argv).toContain('if=none,id=disk0,file=/host/var/run/kubevirt/container-disks/a/disk/disk.img,format=qcow2,snapshot=on');
    expect(argv).toContain('if=none,id=disk1,file=/host/var/run/kubevirt/container-disks/b.img,format=raw,read-only=on');
  });
});
