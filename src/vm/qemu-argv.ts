import type { Domain } from './domain.ts';

/**
 * The qemu-system-x86_64 command line of a domain, pure. Devices come only from the checked
 * domain; `hostPath` maps each disk's in-pod path to the file the launcher opens. The guest's
 * first serial port goes to `consoleLog`; a guest power-off ends QEMU with status 0.
 */
export interface QemuInputs {
  domain: Domain;
  hostPath: (podPath: string) => string;
  consoleLog: string;
  /** Guest port → host port on 127.0.0.1, for the interface's forwarded ports. */
  hostPorts: ReadonlyMap<number, number>;
  /** OVMF code and a writable copy of its variables, for EFI. */
  efi?: { code: string; vars: string };
  /** The image format of each ephemeral (containerDisk) disk by name, as the launcher found it; every other disk is raw. */
  formats?: ReadonlyMap<string, 'raw' | 'qcow2'>;
}

/** The CPU model under KVM (the KVM probe uses the same). */
export const kvmCpu = 'host';

export function qemuArgv(i: QemuInputs): string[] {
  const d = i.domain;
  const args = [
    '-name', `guest=${d.name}`,
    '-machine', `q35,accel=${d.accelerator}`,
    ...(d.accelerator === 'kvm' ? ['-cpu', kvmCpu] : []),
    '-m', `${Math.max(1, Math.ceil(d.memoryBytes / 2 ** 20))}M`,
    '-smp', String(d.cores),
    '-nodefaults', '-no-user-config', '-nographic', '-display', 'none',
    '-chardev', `file,id=serial0,path=${i.consoleLog}`,
    '-serial', 'chardev:serial0',
    '-monitor', 'none',
  ];
  if (d.firmware === 'efi' && i.efi) {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${i.efi.code}`, '-drive', `if=pflash,format=raw,unit=1,file=${i.efi.vars}`);
  }
  let scsi = false;
  let sata = 0;
  // Disks without a bootOrder boot after those with one, in the order given (KubeVirt's rule).
  const ordered = d.disks.map((disk, index) => ({ disk, index })).sort((a, b) => (a.disk.bootOrder ?? 1e6 + a.index) - (b.disk.bootOrder ?? 1e6 + b.index));
  const bootIndex = new Map(ordered.map((o, n) => [o.disk.name, n + 1]));
  for (const [n, disk] of d.disks.entries()) {
    const id = `disk${n}`;
    const file = escapeOption(i.hostPath(disk.path));
    if (disk.ephemeral) {
      // The guest's writes go to a temporary overlay QEMU makes in $TMPDIR and deletes; the image stays as pulled.
      const format = i.formats?.get(disk.name) ?? 'raw';
      args.push('-drive', `if=none,id=${id},file=${file},format=${format},${disk.readOnly ? 'read-only=on' : 'snapshot=on'}`);
    } else {
      args.push('-blockdev', `driver=file,node-name=${id}-file,filename=${file}${disk.readOnly ? ',read-only=on' : ''}`);
      args.push('-blockdev', `driver=raw,node-name=${id},file=${id}-file${disk.readOnly ? ',read-only=on' : ''}`);
    }
    const boot = `,bootindex=${bootIndex.get(disk.name)}`;
    if (disk.bus === 'virtio') {
      args.push('-device', `virtio-blk-pci,drive=${id},id=${id}-dev${boot}`);
    } else if (disk.bus === 'scsi') {
      if (!scsi) args.push('-device', 'virtio-scsi-pci,id=scsi0');
      scsi = true;
      args.push('-device', `${disk.cdrom ? 'scsi-cd' : 'scsi-hd'},bus=scsi0.0,drive=${id},id=${id}-dev${boot}`);
    } else {
      args.push('-device', `${disk.cdrom ? 'ide-cd' : 'ide-hd'},bus=ide.${sata++},drive=${id},id=${id}-dev${boot}`);
    }
  }
  if (d.network) {
    const forwards = d.network.ports.map((p) => {
      const host = i.hostPorts.get(p.port);
      if (host === undefined) throw new Error(`no host port for guest port ${p.port}`);
      return `,hostfwd=${p.protocol.toLowerCase()}:127.0.0.1:${host}-:${p.port}`;
    });
    args.push('-netdev', `user,id=net0${forwards.join('')}`, '-device', `${d.network.model},netdev=net0`);
  }
  return args;
}

/** QEMU's option syntax doubles a comma inside a value. */
function escapeOption(value: string): string {
  return value.replaceAll(',', ',,');
}
