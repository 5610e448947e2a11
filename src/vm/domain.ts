import { parseQuantity } from '../api/quantity.ts';
import type { Disk, Volume, VirtualMachineInstanceSpec } from './types.ts';

/**
 * What the local VM runtime makes of a VMI spec, pure: the domain the launcher runs (devices
 * named by in-pod paths, never host paths or QEMU options) and the pod volumes that provide
 * them, or every feature it cannot provide, so the VMI fails with all of them named at once.
 */
export type Bus = 'virtio' | 'sata' | 'scsi';
export type Accelerator = 'kvm' | 'tcg';

export interface DomainDisk {
  name: string;
  /** In-pod path of the image file or block device. */
  path: string;
  bus: Bus;
  cdrom: boolean;
  readOnly: boolean;
  bootOrder?: number;
  /** emptyDisk: the launcher creates a sparse file of this size before the guest starts. */
  createBytes?: number;
  /** A cloud-init disk: the launcher writes this ISO 9660 image first. */
  cloudInit?: CloudInitDisk;
  /**
   * A containerDisk: raw or qcow2 (the launcher looks), never written: QEMU keeps the guest's
   * writes in a throw-away overlay (snapshot=on), as KubeVirt's containerDisks are ephemeral.
   */
  ephemeral?: boolean;
}

export interface CloudInitDisk {
  kind: 'noCloud' | 'configDrive';
  userData?: string;
  networkData?: string;
  /** In-pod directory of a mounted Secret with userdata/userData (and networkdata/networkData) keys. */
  secretDir?: string;
  networkSecretDir?: string;
  instanceId: string;
}

export interface Domain {
  name: string;
  memoryBytes: number;
  cores: number;
  firmware: 'bios' | 'efi';
  accelerator: Accelerator;
  disks: DomainDisk[];
  /** User-mode networking, when the VMI has a pod network; ports are forwarded from 127.0.0.1. */
  network?: { model: string; ports: Array<{ port: number; protocol: 'TCP' | 'UDP' }> };
}

export interface PodVolume {
  name: string;
  source: { claimName: string; readOnly: boolean } | { emptyDir: true } | { secretName: string } | { image: string; pullPolicy?: PullPolicy };
  /** Where the compute container sees it; Block claims become volumeDevices at this path. */
  podPath: string;
  /** The one file of an image volume to mount at podPath (a containerDisk's `path`). */
  subPath?: string;
  block: boolean;
}

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export type DomainResult = { ok: true; domain: Domain; volumes: PodVolume[]; imagePullSecrets: string[] } | { ok: false; problems: string[] };

export interface ClaimInfo {
  block: boolean;
}

export const PrivateDir = '/var/run/kubevirt-private';
export const ConsoleLogPath = `${PrivateDir}/console.log`;
const diskDir = `${PrivateDir}/vmi-disks`;
const ephemeralDir = '/var/run/kubevirt-ephemeral-disks';
const secretDir = '/var/run/kubevirt-private/secret';
const containerDiskDir = '/var/run/kubevirt/container-disks';

/** KubeVirt's default guest memory when nothing asks for any is not defined; a request is required. */
const defaultMemory = 128 * 2 ** 20;

const knownDomainFields = new Set(['cpu', 'memory', 'resources', 'firmware', 'devices', 'machine']);
const knownDeviceFields = new Set(['disks', 'interfaces', 'autoattachSerialConsole', 'autoattachPodInterface', 'autoattachGraphicsDevice', 'rng']);
const knownSpecFields = new Set(['domain', 'networks', 'volumes', 'terminationGracePeriodSeconds', 'evictionStrategy', 'hostname', 'subdomain', 'nodeSelector', 'architecture']);

/**
 * `claims` holds the volume mode of each claim the VMI names (by claim name); a claim missing
 * from it is reported by the caller before the domain is built.
 */
export function buildDomain(name: string, spec: VirtualMachineInstanceSpec, claims: ReadonlyMap<string, ClaimInfo>, accelerator: Accelerator): DomainResult {
  const problems: string[] = [];
  const refuse = (what: string) => problems.push(`${what} is not supported by the local VM runtime`);
  for (const key of Object.keys(spec)) if (!knownSpecFields.has(key) && spec[key] !== undefined) refuse(`spec.${key}`);
  if (spec.evictionStrategy === 'LiveMigrate' || spec.evictionStrategy === 'LiveMigrateIfPossible') refuse(`spec.evictionStrategy ${spec.evictionStrategy} (live migration)`);
  const domain = spec.domain ?? {};
  for (const key of Object.keys(domain)) if (!knownDomainFields.has(key) && domain[key] !== undefined) refuse(`spec.domain.${key}`);
  const devices = domain.devices ?? {};
  for (const key of Object.keys(devices)) if (!knownDeviceFields.has(key) && devices[key] !== undefined) refuse(`spec.domain.devices.${key}`);
  for (const key of Object.keys(domain.cpu ?? {})) if (!['cores', 'sockets', 'threads', 'model'].includes(key)) refuse(`spec.domain.cpu.${key}`);
  const machine = (domain.machine as { type?: string } | undefined)?.type;
  if (machine && !/^q35|^pc-q35/.test(machine)) refuse(`machine type ${machine} (only q35)`);

  const memory = parseQuantity(domain.memory?.guest) ?? parseQuantity(domain.resources?.requests?.memory) ?? parseQuantity(domain.resources?.limits?.memory) ?? defaultMemory;
  const cpu = domain.cpu ?? {};
  const cores = Math.max(1, (cpu.cores ?? 1) * (cpu.sockets ?? 1) * (cpu.threads ?? 1));

  const efi = domain.firmware?.bootloader?.efi;
  // KubeVirt's default for an EFI guest is secure boot: only an explicit `secureBoot: false` runs here.
  if (efi && efi.secureBoot !== false) problems.push(`spec.domain.firmware.bootloader.efi.secureBoot ${efi.secureBoot === undefined ? '(true by default) ' : ''}is not supported by the local VM runtime: set secureBoot: false`);
  if (efi?.persistent) refuse('spec.domain.firmware.bootloader.efi.persistent (the EFI variables live as long as the launcher pod)');
  for (const key of Object.keys(efi ?? {})) if (key !== 'secureBoot' && key !== 'persistent') refuse(`spec.domain.firmware.bootloader.efi.${key}`);
  for (const key of Object.keys(domain.firmware ?? {})) if (key !== 'bootloader' && key !== 'uuid' && key !== 'serial') refuse(`spec.domain.firmware.${key}`);

  const volumesByName = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const volumes: PodVolume[] = [];
  const disks: DomainDisk[] = [];
  const disked = new Set<string>();
  for (const [i, d] of (devices.disks ?? []).entries()) {
    const at = `spec.domain.devices.disks[${i}]`;
    disked.add(d.name);
    const v = volumesByName.get(d.name);
    if (!v) {
      problems.push(`${at}: disk ${d.name} has no volume of that name`);
      continue;
    }
    const disk = diskOf(d, at, problems);
    if (!disk) continue;
    const source = volumeSource(v, claims, problems, name);
    if (!source) continue;
    volumes.push(...source.volumes);
    disks.push({ name: d.name, bus: disk.bus, cdrom: disk.cdrom, readOnly: disk.cdrom || source.readOnly, ...(d.bootOrder !== undefined ? { bootOrder: d.bootOrder } : {}), ...source.disk });
  }
  // KubeVirt attaches a volume without a disk as a virtio disk.
  for (const v of spec.volumes ?? []) {
    if (disked.has(v.name)) continue;
    const source = volumeSource(v, claims, problems, name);
    if (!source) continue;
    volumes.push(...source.volumes);
    disks.push({ name: v.name, bus: 'virtio', cdrom: false, readOnly: source.readOnly, ...source.disk });
  }
  if (disks.length === 0 && problems.length === 0) problems.push('the VMI has no disk to boot from');

  const network = networkOf(spec, problems);
  if (problems.length) return { ok: false, problems };
  const imagePullSecrets = [...new Set((spec.volumes ?? []).flatMap((v) => (v.containerDisk?.imagePullSecret ? [v.containerDisk.imagePullSecret] : [])))];
  return { ok: true, domain: { name, memoryBytes: memory, cores, firmware: efi ? 'efi' : 'bios', accelerator, disks, ...(network ? { network } : {}) }, volumes, imagePullSecrets };
}

function diskOf(d: Disk, at: string, problems: string[]): { bus: Bus; cdrom: boolean } | undefined {
  if (d.lun) {
    problems.push(`${at}.lun is not supported by the local VM runtime`);
    return undefined;
  }
  for (const key of Object.keys(d)) {
    if (!['name', 'disk', 'cdrom', 'bootOrder', 'serial', 'cache', 'io'].includes(key)) {
      problems.push(`${at}.${key} is not supported by the local VM runtime`);
      return undefined;
    }
  }
  const cdrom = d.cdrom !== undefined;
  // KubeVirt's defaults: virtio for disks, sata for cdroms.
  const bus = (cdrom ? d.cdrom?.bus : d.disk?.bus) ?? (cdrom ? 'sata' : 'virtio');
  if (bus !== 'virtio' && bus !== 'sata' && bus !== 'scsi') {
    problems.push(`${at}: bus ${bus} is not supported by the local VM runtime (virtio, sata, scsi)`);
    return undefined;
  }
  return { bus, cdrom };
}

interface Source {
  volumes: PodVolume[];
  disk: Pick<DomainDisk, 'path'> & Partial<Pick<DomainDisk, 'createBytes' | 'cloudInit' | 'ephemeral'>>;
  readOnly: boolean;
}

function volumeSource(v: Volume, claims: ReadonlyMap<string, ClaimInfo>, problems: string[], vmiName: string): Source | undefined {
  const at = `volume ${v.name}`;
  const claimName = v.dataVolume?.name ?? v.persistentVolumeClaim?.claimName;
  if ((v.dataVolume as { hotpluggable?: boolean } | undefined)?.hotpluggable || (v.persistentVolumeClaim as { hotpluggable?: boolean } | undefined)?.hotpluggable) {
    problems.push(`${at}: hotplug volumes are not supported by the local VM runtime`);
    return undefined;
  }
  if (claimName !== undefined) {
    const claim = claims.get(claimName);
    if (!claim) {
      problems.push(`${at}: PersistentVolumeClaim ${claimName} not found`);
      return undefined;
    }
    const readOnly = v.persistentVolumeClaim?.readOnly ?? false;
    const podPath = claim.block ? `/dev/${v.name}` : `${diskDir}/${v.name}`;
    return {
      volumes: [{ name: v.name, source: { claimName, readOnly }, podPath, block: claim.block }],
      disk: { path: claim.block ? podPath : `${podPath}/disk.img` },
      readOnly,
    };
  }
  if (v.emptyDisk) {
    const bytes = parseQuantity(v.emptyDisk.capacity);
    if (bytes === undefined || bytes <= 0) {
      problems.push(`${at}: emptyDisk.capacity ${JSON.stringify(v.emptyDisk.capacity)} is not a size`);
      return undefined;
    }
    const podPath = `${ephemeralDir}/${v.name}`;
    return { volumes: [{ name: v.name, source: { emptyDir: true }, podPath, block: false }], disk: { path: `${podPath}/disk.img`, createBytes: bytes }, readOnly: false };
  }
  if (v.containerDisk) return containerDiskSource(v.name, v.containerDisk, problems);
  const cloud = v.cloudInitNoCloud ?? v.cloudInitConfigDrive;
  if (cloud) {
    const kind = v.cloudInitNoCloud ? 'noCloud' : 'configDrive';
    const volumes: PodVolume[] = [{ name: v.name, source: { emptyDir: true }, podPath: `${ephemeralDir}/${v.name}`, block: false }];
    const cloudInit: CloudInitDisk = { kind, instanceId: `${vmiName}.${v.name}` };
    const userData = cloud.userData ?? (cloud.userDataBase64 !== undefined ? Buffer.from(cloud.userDataBase64, 'base64').toString('utf8') : undefined);
    const networkData = cloud.networkData ?? (cloud.networkDataBase64 !== undefined ? Buffer.from(cloud.networkDataBase64, 'base64').toString('utf8') : undefined);
    if (userData !== undefined) cloudInit.userData = userData;
    if (networkData !== undefined) cloudInit.networkData = networkData;
    if (cloud.secretRef?.name) {
      const dir = `${secretDir}/${v.name}-user`;
      volumes.push({ name: `${v.name}-user`, source: { secretName: cloud.secretRef.name }, podPath: dir, block: false });
      cloudInit.secretDir = dir;
    }
    if (cloud.networkDataSecretRef?.name) {
      const dir = `${secretDir}/${v.name}-network`;
      volumes.push({ name: `${v.name}-network`, source: { secretName: cloud.networkDataSecretRef.name }, podPath: dir, block: false });
      cloudInit.networkSecretDir = dir;
    }
    if (userData === undefined && !cloudInit.secretDir) {
      problems.push(`${at}: cloud-init needs userData, userDataBase64 or secretRef`);
      return undefined;
    }
    return { volumes, disk: { path: `${ephemeralDir}/${v.name}/${kind === 'noCloud' ? 'noCloud' : 'configdrive'}.iso`, cloudInit }, readOnly: true };
  }
  const kind = Object.keys(v).find((k) => k !== 'name') ?? 'empty';
  problems.push(`${at}: volume type ${kind} is not supported by the local VM runtime`);
  return undefined;
}

const pullPolicies: ReadonlySet<string> = new Set(['Always', 'IfNotPresent', 'Never']);

/**
 * A containerDisk is an image volume of the launcher pod, pulled by the node into its image
 * store: without `path` the node provides the one file under /disk (at disk/disk.img), with
 * `path` that file (the mount's subPath).
 */
function containerDiskSource(name: string, cd: NonNullable<Volume['containerDisk']>, problems: string[]): Source | undefined {
  const at = `volume ${name}: containerDisk`;
  const before = problems.length;
  for (const key of Object.keys(cd)) if (!['image', 'imagePullPolicy', 'path', 'imagePullSecret'].includes(key)) problems.push(`${at}.${key} is not supported by the local VM runtime`);
  if (typeof cd.image !== 'string' || cd.image.trim() === '') problems.push(`${at}.image is required`);
  if (cd.imagePullPolicy !== undefined && !pullPolicies.has(cd.imagePullPolicy)) problems.push(`${at}.imagePullPolicy ${JSON.stringify(cd.imagePullPolicy)} is not one of Always, IfNotPresent, Never`);
  const entry = cd.path?.replace(/^\/+/, '');
  if (cd.path !== undefined && (!entry || entry.split('/').includes('..'))) problems.push(`${at}.path ${JSON.stringify(cd.path)} is not a file path inside the image`);
  if (problems.length > before) return undefined;
  const podPath = entry ? `${containerDiskDir}/${name}.img` : `${containerDiskDir}/${name}`;
  const source = { image: cd.image as string, ...(cd.imagePullPolicy ? { pullPolicy: cd.imagePullPolicy as PullPolicy } : {}) };
  return {
    volumes: [{ name, source, podPath, ...(entry ? { subPath: entry } : {}), block: false }],
    disk: { path: entry ? podPath : `${podPath}/disk/disk.img`, ephemeral: true },
    readOnly: false,
  };
}

function networkOf(spec: VirtualMachineInstanceSpec, problems: string[]): Domain['network'] {
  const interfaces = spec.domain?.devices?.interfaces ?? [];
  const networks = spec.networks ?? [];
  for (const [i, n] of networks.entries()) {
    if (n.multus) problems.push(`spec.networks[${i}]: Multus networks are not supported by the local VM runtime`);
    else if (!n.pod) problems.push(`spec.networks[${i}]: only the pod network is supported by the local VM runtime`);
  }
  if (interfaces.length > 1) problems.push('more than one interface is not supported by the local VM runtime');
  const iface = interfaces[0];
  if (!iface) return networks.length ? { model: 'virtio-net-pci', ports: [] } : undefined;
  if (iface.sriov) problems.push(`interface ${iface.name}: SR-IOV is not supported by the local VM runtime`);
  else if (iface.binding || iface.passt) problems.push(`interface ${iface.name}: network binding plugins are not supported by the local VM runtime`);
  else if (!iface.masquerade && !iface.bridge && !iface.slirp) problems.push(`interface ${iface.name}: no binding (masquerade or bridge) given`);
  if (!networks.some((n) => n.name === iface.name)) problems.push(`interface ${iface.name} has no network of that name`);
  const ports: Array<{ port: number; protocol: 'TCP' | 'UDP' }> = [];
  for (const p of iface.ports ?? []) {
    const protocol = (p.protocol ?? 'TCP').toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP') problems.push(`interface ${iface.name}: port ${p.port} protocol ${p.protocol} is not supported (TCP, UDP)`);
    else ports.push({ port: p.port, protocol });
  }
  const model = iface.model ?? 'virtio';
  const models: Record<string, string> = { virtio: 'virtio-net-pci', e1000: 'e1000', e1000e: 'e1000e', rtl8139: 'rtl8139' };
  const device = models[model];
  if (!device) problems.push(`interface ${iface.name}: model ${model} is not supported by the local VM runtime`);
  return { model: device ?? 'virtio-net-pci', ports };
}
