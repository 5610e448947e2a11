import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LauncherEnv, LocalEnv, PodPaths } from '../api/env.ts';
import type { Logger } from '../api/logger.ts';
import { findTool } from '../node/tools.ts';
import { buildCloudInitIso } from './cloud-init.ts';
import type { Domain, DomainDisk } from './domain.ts';
import { qemuArgv } from './qemu-argv.ts';

/**
 * The virt-launcher's compute container: resolves the domain's in-pod paths through the pod's
 * mounts, prepares emptyDisks and cloud-init disks, checks that a BIOS guest has something to
 * boot, then runs QEMU until the guest powers off (exit 0: the VMI Succeeds) or QEMU fails
 * (its exit code and the tail of its stderr become the termination message: the VMI Fails).
 */
export class LaunchError extends Error {}

export interface LauncherConfig {
  domain: Domain;
  mounts: Array<{ podPath: string; hostPath: string }>;
  hostPorts: Map<number, number>;
  consoleLog: string;
  terminationLog: string;
}

export function readLauncherConfig(env: NodeJS.ProcessEnv): LauncherConfig {
  const json = <T>(name: string, fallback?: T): T => {
    const raw = env[name];
    if (raw === undefined) {
      if (fallback !== undefined) return fallback;
      throw new LaunchError(`${name} is not set: the launcher runs only in a virt-launcher pod`);
    }
    try {
      return JSON.parse(raw) as T;
    } catch {
      throw new LaunchError(`${name} is not JSON`);
    }
  };
  const domain = json<Domain>(LauncherEnv.domain);
  if (!Array.isArray(domain.disks) || typeof domain.memoryBytes !== 'number' || typeof domain.cores !== 'number') throw new LaunchError(`${LauncherEnv.domain} is not a domain`);
  const ports = json<Record<string, number>>(LocalEnv.portMap, {});
  return {
    domain,
    mounts: json<LauncherConfig['mounts']>(LocalEnv.mounts, []),
    hostPorts: new Map(Object.entries(ports).map(([k, v]) => [Number(k), v])),
    consoleLog: env[LauncherEnv.consoleLog] ?? '',
    terminationLog: env[LocalEnv.terminationLog] ?? PodPaths.terminationLog,
  };
}

/** The host path of an in-pod path, which must lie inside one of the container's mounts. */
export function hostPathIn(mounts: LauncherConfig['mounts'], podPath: string): string {
  const normal = path.posix.normalize(podPath);
  const mount = podPath.split('/').includes('..') ? undefined : mounts.find((m) => normal === m.podPath || normal.startsWith(`${m.podPath}/`));
  if (!mount) throw new LaunchError(`${podPath} is not inside one of the pod's volumes`);
  return mount.hostPath + normal.slice(mount.podPath.length);
}

export const InstallQemu = 'apt-get install -y qemu-system-x86 (or scripts/install-deps.sh --vm)';
const ovmf = { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', vars: '/usr/share/OVMF/OVMF_VARS_4M.fd' };

/** Runs the guest until it powers off (0), QEMU fails, or the pod is stopped. */
export async function runLauncher(config: LauncherConfig, logger: Logger): Promise<number> {
  const { domain } = config;
  const hostPath = (p: string) => hostPathIn(config.mounts, p);
  const formats = new Map<string, 'raw' | 'qcow2'>();
  for (const disk of domain.disks) {
    await prepareDisk(disk, hostPath(disk.path), hostPath);
    if (disk.ephemeral) formats.set(disk.name, await containerDiskFormat(disk.name, hostPath(disk.path)));
  }
  if (domain.firmware === 'bios') await requireBootable(domain.disks.filter((d) => formats.get(d.name) !== 'qcow2'), hostPath, domain.disks.some((d) => formats.get(d.name) === 'qcow2'));
  const qemu = await findTool('qemu-system-x86_64');
  if (!qemu) throw new LaunchError(`qemu-system-x86_64 is not installed: ${InstallQemu}`);
  let efi: { code: string; vars: string } | undefined;
  if (domain.firmware === 'efi') {
    if (!fs.existsSync(ovmf.code)) throw new LaunchError(`EFI firmware needs OVMF: apt-get install -y ovmf (${ovmf.code} is missing)`);
    const vars = path.join(path.dirname(config.consoleLog), 'efi-vars.fd');
    if (!fs.existsSync(vars)) await fs.promises.copyFile(ovmf.vars, vars);
    efi = { code: ovmf.code, vars };
  }
  const argv = qemuArgv({ domain, hostPath, consoleLog: config.consoleLog, hostPorts: config.hostPorts, formats, ...(efi ? { efi } : {}) });
  // setpriv ties QEMU's life to the launcher's: a killed launcher never leaves a guest running.
  const setpriv = await findTool('setpriv');
  const [cmd, args] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', qemu, ...argv]] : [qemu, argv];
  logger.info({ accelerator: domain.accelerator, memoryBytes: domain.memoryBytes, cores: domain.cores, disks: domain.disks.map((d) => d.name) }, 'starting QEMU');
  // QEMU makes containerDisks' throw-away overlays in $TMPDIR: the pod's private emptyDir.
  const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'pipe'], env: { ...process.env, TMPDIR: path.dirname(config.consoleLog) } });
  let stderr = '';
  let kvmFailure: string | undefined;
  child.stderr.on('data', (b: Buffer) => {
    process.stderr.write(b);
    stderr = (stderr + b.toString()).slice(-2048);
    // QEMU stops the guest and waits on a KVM internal error instead of exiting: end it, say why.
    const internal = kvmFailure === undefined ? /KVM internal error[^\n]*/.exec(stderr) : null;
    if (internal) {
      kvmFailure = `${internal[0]}: KVM cannot run this guest on this host (cdi serve --vm-accelerator tcg runs it emulated)`;
      child.kill('SIGKILL');
    }
  });
  let stopped: string | undefined;
  const stop = (signal: NodeJS.Signals) => {
    stopped = signal;
    child.kill('SIGTERM');
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('error', (err) => {
      stderr += err.message;
      resolve({ code: 127, signal: null });
    });
    child.once('exit', (c, s) => resolve({ code: c, signal: s }));
  });
  if (stopped) {
    // The pod is going away under a running guest: not a power-off (the VMI fails, as KubeVirt's does).
    const why = `the guest was stopped: the virt-launcher pod was terminated (${stopped})`;
    await fs.promises.writeFile(config.terminationLog, why);
    logger.info({ signal: stopped }, why);
    return 143;
  }
  if (code === 0) {
    logger.info({}, 'guest powered off');
    await fs.promises.writeFile(config.terminationLog, 'guest powered off');
    return 0;
  }
  if (kvmFailure) {
    await fs.promises.writeFile(config.terminationLog, kvmFailure);
    logger.error({}, kvmFailure);
    return 1;
  }
  const why = signal ? `QEMU was killed by ${signal}` : `QEMU exited with status ${code}`;
  await fs.promises.writeFile(config.terminationLog, `${why}: ${stderr.trim().split('\n').slice(-5).join('\n')}`.slice(0, 4000));
  logger.error({ code, signal }, why);
  return code && code > 0 ? code : 1;
}

async function prepareDisk(disk: DomainDisk, file: string, hostPath: (p: string) => string): Promise<void> {
  if (disk.createBytes !== undefined && !fs.existsSync(file)) {
    await fs.promises.writeFile(file, '');
    await fs.promises.truncate(file, disk.createBytes);
  }
  if (disk.cloudInit) {
    const ci = disk.cloudInit;
    const fromSecret = async (dir: string | undefined, keys: string[]): Promise<string | undefined> => {
      if (!dir) return undefined;
      for (const k of keys) {
        const value = await fs.promises.readFile(path.join(hostPath(dir), k), 'utf8').catch(() => undefined);
        if (value !== undefined) return value;
      }
      return undefined;
    };
    const userData = (await fromSecret(ci.secretDir, ['userdata', 'userData'])) ?? ci.userData;
    if (userData === undefined) throw new LaunchError(`cloud-init disk ${disk.name}: the secret has no userdata or userData key`);
    const networkData = (await fromSecret(ci.networkSecretDir ?? ci.secretDir, ['networkdata', 'networkData'])) ?? ci.networkData;
    await fs.promises.writeFile(file, buildCloudInitIso({ kind: ci.kind, instanceId: ci.instanceId, userData, ...(networkData !== undefined ? { networkData } : {}) }));
  }
}

const qcow2Magic = Buffer.from('QFI\xfb', 'latin1');

/**
 * A containerDisk holds raw or qcow2 (KubeVirt's rule). A qcow2 naming a backing file is refused:
 * QEMU would open that path on this machine.
 */
async function containerDiskFormat(name: string, file: string): Promise<'raw' | 'qcow2'> {
  const fh = await fs.promises.open(file, 'r').catch((err: NodeJS.ErrnoException) => {
    throw new LaunchError(`containerDisk ${name}: cannot open the pulled disk: ${err.code ?? err.message}`);
  });
  try {
    const header = Buffer.alloc(16);
    const { bytesRead } = await fh.read(header, 0, 16, 0);
    if (bytesRead < 16 || !header.subarray(0, 4).equals(qcow2Magic)) return 'raw';
    if (header.readBigUInt64BE(8) !== 0n) throw new LaunchError(`containerDisk ${name}: the qcow2 image names a backing file, which a containerDisk cannot have`);
    return 'qcow2';
  } finally {
    await fh.close();
  }
}

/**
 * A BIOS boots a disk only through its first sector's 0x55AA signature; a guest with neither
 * such a disk nor a CD-ROM would sit at "No bootable device" forever, so it is refused instead.
 * A qcow2 containerDisk's first guest sector is not read here, so its presence lets the guest try.
 */
async function requireBootable(disks: DomainDisk[], hostPath: (p: string) => string, qcow2Present = false): Promise<void> {
  if (qcow2Present || disks.some((d) => d.cdrom)) return;
  for (const d of disks) {
    if (d.cloudInit || d.createBytes !== undefined) continue;
    const fh = await fs.promises.open(hostPath(d.path), 'r').catch(() => undefined);
    if (!fh) continue;
    try {
      const sector = Buffer.alloc(512);
      const { bytesRead } = await fh.read(sector, 0, 512, 0);
      if (bytesRead === 512 && sector[510] === 0x55 && sector[511] === 0xaa) return;
    } finally {
      await fh.close();
    }
  }
  const names = disks.filter((d) => !d.cloudInit && d.createBytes === undefined).map((d) => d.name);
  throw new LaunchError(`no bootable disk: ${names.join(', ') || 'no disk'} has no boot signature (0x55AA) in its first sector, so BIOS firmware cannot boot it`);
}
