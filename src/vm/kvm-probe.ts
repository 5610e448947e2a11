import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { findTool } from '../node/tools.ts';
import type { Accelerator } from './domain.ts';
import { kvmCpu } from './qemu-argv.ts';

/**
 * Whether KVM can run a guest here, found by running one: SeaBIOS under KVM with the launcher's
 * CPU model boots a one-sector disk whose code writes to QEMU's isa-debug-exit port, and QEMU
 * exits with status 3. Opening /dev/kvm is not enough: some hosts' KVM cannot run firmware (a
 * page-table-based KVM such as kvm-pvm, without VMX/SVM, stops at SeaBIOS's first 16-bit `iret`
 * with "KVM internal error. Suberror: 1" and QEMU then hangs), or refuses the CPU model's MSRs.
 */
export type KvmProbe = { ok: true } | { ok: false; reason: string };

/** mov al, 1; out 0xf4, al; hlt; jmp $-1 — then the 0x55AA boot signature. */
function bootSector(): Buffer {
  const sector = Buffer.alloc(512);
  Buffer.from([0xb0, 0x01, 0xe6, 0xf4, 0xf4, 0xeb, 0xfd]).copy(sector);
  sector[510] = 0x55;
  sector[511] = 0xaa;
  return sector;
}

/** isa-debug-exit turns the value 1 into exit status (1 << 1) | 1. */
const probeExit = 3;

export async function probeKvm(qemu: string, timeoutMs = 20_000): Promise<KvmProbe> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-kvm-probe-'));
  try {
    const disk = path.join(dir, 'boot.img');
    await writeFile(disk, bootSector());
    const args = [
      '-machine', 'q35,accel=kvm', '-cpu', kvmCpu, '-m', '16',
      '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-serial', 'none',
      '-device', 'isa-debug-exit,iobase=0xf4,iosize=1',
      '-drive', `if=none,id=probe,format=raw,read-only=on,file=${disk.replaceAll(',', ',,')}`,
      '-device', 'ide-hd,drive=probe,bus=ide.0,bootindex=1',
    ];
    const child = spawn(qemu, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    return await new Promise<KvmProbe>((resolve) => {
      const fail = (reason: string) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        resolve({ ok: false, reason });
      };
      const timer = setTimeout(() => fail(`a KVM test guest did not finish within ${timeoutMs / 1000} s`), timeoutMs);
      child.stderr.on('data', (b: Buffer) => {
        stderr = (stderr + b.toString()).slice(-4096);
        // QEMU stops the guest and waits on a KVM internal error instead of exiting.
        const internal = /KVM internal error[^\n]*/.exec(stderr);
        if (internal) fail(`a KVM test guest failed in its firmware: ${internal[0]}`);
      });
      child.once('error', (err) => fail(`QEMU did not start: ${err.message}`));
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === probeExit) resolve({ ok: true });
        else resolve({ ok: false, reason: `a KVM test guest failed: QEMU ${signal ? `was killed by ${signal}` : `exited with status ${code}`}: ${firstError(stderr)}` });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function firstError(stderr: string): string {
  return stderr.split('\n').find((l) => /error/i.test(l))?.trim() ?? (stderr.trim().split('\n')[0] || 'no message');
}

export type AcceleratorChoice = 'auto' | Accelerator;

export interface AcceleratorDecision {
  accelerator: Accelerator;
  /** Why guests are emulated, for the VMIs' SoftwareEmulation condition. */
  reason?: string;
}

/**
 * KVM when /dev/kvm opens read-write (KubeVirt's device plugin checks the same) and a test guest
 * runs under it (src/vm/kvm-probe.ts), else TCG with the reason.
 */
export async function chooseAccelerator(choice: AcceleratorChoice): Promise<AcceleratorDecision> {
  if (choice === 'tcg') return { accelerator: 'tcg', reason: 'cdi serve --vm-accelerator tcg' };
  if (choice === 'kvm') return { accelerator: 'kvm' };
  const opens = await fs.promises.access('/dev/kvm', fs.constants.R_OK | fs.constants.W_OK).then(() => true, () => false);
  if (!opens) return { accelerator: 'tcg', reason: '/dev/kvm does not open read-write' };
  const qemu = await findTool('qemu-system-x86_64');
  // Without QEMU no guest runs at all; each VMI fails with how to install it.
  if (!qemu) return { accelerator: 'kvm' };
  const probe = await probeKvm(qemu);
  return probe.ok ? { accelerator: 'kvm' } : { accelerator: 'tcg', reason: probe.reason };
}

