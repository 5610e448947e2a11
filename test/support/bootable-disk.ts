import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { qemuImg } from './qemu.ts';

const run = promisify(execFile);

/**
 * A BIOS-bootable disk built without mounts or root: an MBR (syslinux's mbr.bin) with a FAT boot
 * partition (syslinux, Debian's kernel, an initramfs whose /init is a static busybox script) and
 * an ext4 root partition (mkfs.ext4 -d) holding `payload.bin`. The init prints the marker, the
 * sha256 of the payload it reads from the ext4 root, any cloud-init user-data it finds on an ISO
 * 9660 disk (NoCloud's user-data, ConfigDrive's openstack/latest/user_data), and powers off (or, built with `hold`, keeps running and, with a NIC,
 * serves the marker over HTTP on GuestHttpPort). Needs the Debian packages of scripts/install-deps.sh
 * --test (linux-image-cloud-amd64, busybox-static, syslinux, syslinux-efi, mtools, dosfstools, fdisk).
 */
export interface BootableDisk {
  path: string;
  format: 'raw' | 'qcow2';
  marker: string;
  payloadSha256: string;
}

/** Console lines the guest's init prints; tests and the benchmark look for these. */
export const GuestLines = {
  marker: (marker: string) => `CDI-GUEST-MARKER ${marker}`,
  payload: (sha: string) => `CDI-GUEST-PAYLOAD ${sha}`,
  userData: 'CDI-GUEST-USERDATA ',
  configDriveUserData: 'CDI-GUEST-CONFIGDRIVE-USERDATA ',
  poweroff: 'CDI-GUEST-POWEROFF',
  holding: 'CDI-GUEST-HOLDING',
} as const;

const kernelRelease = async (): Promise<string> => {
  const entries = (await fs.readdir('/boot')).filter((f) => f.startsWith('vmlinuz-')).sort();
  const last = entries.at(-1);
  if (!last) throw new Error('no kernel in /boot: apt-get install linux-image-cloud-amd64 (scripts/install-deps.sh --test)');
  return last.slice('vmlinuz-'.length);
};

/** virtio disks, SCSI and ISO 9660: what the init needs to find its root and a cloud-init disk. */
const modules = ['virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'virtio_blk', 'scsi_common', 'scsi_mod', 'virtio_scsi', 'sd_mod', 'cdrom', 'isofs', 'failover', 'net_failover', 'virtio_net'];

/** The held guest serves its marker over HTTP on this port, at QEMU user networking's guest address. */
export const GuestHttpPort = 8080;

function initScript(marker: string): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${modules.join(' ')}; do insmod /lib/modules/$m.ko 2>/dev/null; done
echo "${GuestLines.marker(marker)}"
root=""
for i in $(seq 1 100); do
  root=$(findfs LABEL=cdiroot 2>/dev/null) && break
  sleep 0.1
done
mount -t ext4 -o ro "$root" /root && echo "${GuestLines.payload('')}$(sha256sum /root/payload.bin | cut -d' ' -f1)"
for d in /dev/vd? /dev/sd? /dev/sr?; do
  [ -b "$d" ] || continue
  if mount -t iso9660 -o ro "$d" /ci 2>/dev/null; then
    [ -f /ci/user-data ] && sed 's/^/${GuestLines.userData}/' /ci/user-data
    [ -f /ci/openstack/latest/user_data ] && sed 's/^/${GuestLines.configDriveUserData}/' /ci/openstack/latest/user_data
    umount /ci
  fi
done
if [ -f /root/hold ]; then
  if ip link set eth0 up 2>/dev/null; then
    ip addr add 10.0.2.15/24 dev eth0
    mkdir -p /www && echo "${GuestLines.marker(marker)}" > /www/index.html
    httpd -p ${GuestHttpPort} -h /www
  fi
  echo "${GuestLines.holding}"
  while true; do sleep 3600; done
fi
echo "${GuestLines.poweroff}"
poweroff -f
`;
}

/**
 * Builds (or reuses, keyed by marker and payload) a bootable disk in `dir`. With `firmware: 'efi'`
 * the disk is GPT with an EFI system partition booting syslinux.efi as the removable-media
 * loader (EFI/BOOT/BOOTX64.EFI, package syslinux-efi) instead of an MBR with BIOS syslinux.
 */
export async function buildBootableDisk(dir: string, opts: { marker: string; payload: Buffer; format?: 'raw' | 'qcow2'; hold?: boolean; firmware?: 'bios' | 'efi' }): Promise<BootableDisk> {
  const format = opts.format ?? 'raw';
  const efi = opts.firmware === 'efi';
  const payloadSha256 = createHash('sha256').update(opts.payload).digest('hex');
  const key = createHash('sha256').update(opts.marker).update(payloadSha256).update(format).update(opts.hold ? 'hold' : '').update(efi ? 'efi' : '').update(initScript(opts.marker)).digest('hex').slice(0, 12);
  const out = path.join(dir, `bootable-${key}.${format === 'raw' ? 'img' : 'qcow2'}`);
  if (await fs.stat(out).then(() => true, () => false)) return { path: out, format, marker: opts.marker, payloadSha256 };

  const work = await fs.mkdtemp(path.join(dir, 'build-'));
  try {
    const release = await kernelRelease();
    const initrd = path.join(work, 'initrd.cpio');
    await fs.writeFile(initrd, await initramfs(release, initScript(opts.marker)));

    const sector = 512;
    const bootStart = 2048;
    const bootSectors = 64 * 2048;
    const rootStart = bootStart + bootSectors;
    const rootSectors = 16 * 2048;

    const fat = path.join(work, 'boot.fat');
    await run('mkfs.vfat', ['-F', '16', '-n', 'CDIBOOT', '-C', fat, String((bootSectors * sector) / 1024)]);
    const cfg = path.join(work, 'syslinux.cfg');
    await fs.writeFile(cfg, 'DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n  INITRD initrd\n  APPEND console=ttyS0 quiet panic=-1\n');
    // syslinux.efi reads its config, kernel and initrd from its own directory.
    const bootDir = efi ? '::EFI/BOOT/' : '::';
    if (efi) {
      await run('mmd', ['-i', fat, '::EFI', '::EFI/BOOT']);
      await run('mcopy', ['-i', fat, '/usr/lib/SYSLINUX.EFI/efi64/syslinux.efi', '::EFI/BOOT/BOOTX64.EFI']);
      await run('mcopy', ['-i', fat, '/usr/lib/syslinux/modules/efi64/ldlinux.e64', '::EFI/BOOT/ldlinux.e64']);
    } else {
      await run('syslinux', ['--install', fat]);
    }
    await run('mcopy', ['-i', fat, cfg, `${bootDir}syslinux.cfg`]);
    await run('mcopy', ['-i', fat, `/boot/vmlinuz-${release}`, `${bootDir}vmlinuz`]);
    await run('mcopy', ['-i', fat, initrd, `${bootDir}initrd`]);

    const rootDir = path.join(work, 'root');
    await fs.mkdir(rootDir);
    await fs.writeFile(path.join(rootDir, 'payload.bin'), opts.payload);
    if (opts.hold) await fs.writeFile(path.join(rootDir, 'hold'), '');
    const ext4 = path.join(work, 'root.ext4');
    await run('mkfs.ext4', ['-q', '-F', '-L', 'cdiroot', '-d', rootDir, ext4, `${(rootSectors * sector) / 1024}k`]);

    const raw = path.join(work, 'disk.raw');
    await fs.writeFile(raw, '');
    // GPT keeps a backup header in the last 33 sectors.
    await fs.truncate(raw, (rootStart + rootSectors + (efi ? 2048 : 0)) * sector);
    const layout = efi
      ? `label: gpt\nstart=${bootStart}, size=${bootSectors}, type=uefi\nstart=${rootStart}, size=${rootSectors}, type=linux\n`
      : `label: dos\nstart=${bootStart}, size=${bootSectors}, type=6, bootable\nstart=${rootStart}, size=${rootSectors}, type=83\n`;
    await sfdisk(raw, layout);
    const disk = await fs.open(raw, 'r+');
    try {
      if (!efi) {
        const mbr = await fs.readFile('/usr/lib/syslinux/mbr/mbr.bin');
        await disk.write(mbr, 0, Math.min(mbr.length, 440), 0);
      }
      await disk.write(await fs.readFile(fat), 0, bootSectors * sector, bootStart * sector);
      await disk.write(await fs.readFile(ext4), 0, rootSectors * sector, rootStart * sector);
    } finally {
      await disk.close();
    }
    if (format === 'qcow2') await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, path.join(work, 'disk.out'));
    await fs.rename(format === 'qcow2' ? path.join(work, 'disk.out') : raw, out);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  return { path: out, format, marker: opts.marker, payloadSha256 };
}

function sfdisk(file: string, layout: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('sfdisk', ['--quiet', file], (err) => (err ? reject(err) : resolve()));
    child.stdin?.end(layout);
  });
}

/** An uncompressed newc initramfs: busybox, the init script and the kernel modules it loads. */
async function initramfs(release: string, init: string): Promise<Buffer> {
  const entries: CpioEntry[] = [];
  for (const d of ['bin', 'dev', 'proc', 'sys', 'root', 'ci', 'lib', 'lib/modules']) entries.push({ name: d, mode: 0o40755 });
  entries.push({ name: 'bin/busybox', mode: 0o100755, data: await fs.readFile('/bin/busybox') });
  entries.push({ name: 'init', mode: 0o100755, data: Buffer.from(init) });
  for (const m of modules) {
    const { stdout } = await run('modinfo', ['-k', release, '-F', 'filename', m]);
    entries.push({ name: `lib/modules/${m}.ko`, mode: 0o100644, data: await fs.readFile(stdout.trim()) });
  }
  return newc(entries);
}

interface CpioEntry {
  name: string;
  mode: number;
  data?: Buffer;
}

function newc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const e of [...entries, { name: 'TRAILER!!!', mode: 0 }]) {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`);
    parts.push(header, name, pad(header.length + name.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}
