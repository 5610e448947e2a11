import type { ObjectMeta } from '../api/core-schemas.ts';

/**
 * KubeVirt's VirtualMachineInstance (kubevirt.io/v1), the fields the local VM runtime reads or
 * writes. Anything else in a spec is looked at only to refuse it (src/vm/domain.ts).
 */
export interface Disk {
  name: string;
  disk?: { bus?: string };
  cdrom?: { bus?: string; readonly?: boolean };
  lun?: unknown;
  bootOrder?: number;
  [field: string]: unknown;
}

export interface Interface {
  name: string;
  masquerade?: object;
  bridge?: object;
  sriov?: object;
  slirp?: object;
  passt?: object;
  binding?: object;
  model?: string;
  ports?: Array<{ name?: string; port: number; protocol?: string }>;
  [field: string]: unknown;
}

export interface CloudInitSource {
  userData?: string;
  userDataBase64?: string;
  networkData?: string;
  networkDataBase64?: string;
  secretRef?: { name: string };
  networkDataSecretRef?: { name: string };
}

export interface Volume {
  name: string;
  dataVolume?: { name: string };
  persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  containerDisk?: { image?: string; imagePullPolicy?: string; path?: string; imagePullSecret?: string; [field: string]: unknown };
  cloudInitNoCloud?: CloudInitSource;
  cloudInitConfigDrive?: CloudInitSource;
  emptyDisk?: { capacity: string };
  [field: string]: unknown;
}

export interface VirtualMachineInstanceSpec {
  domain?: {
    cpu?: { cores?: number; sockets?: number; threads?: number; [field: string]: unknown };
    memory?: { guest?: string; [field: string]: unknown };
    resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
    firmware?: { bootloader?: { bios?: object; efi?: { secureBoot?: boolean; persistent?: boolean; [field: string]: unknown } }; [field: string]: unknown };
    devices?: {
      disks?: Disk[];
      interfaces?: Interface[];
      [field: string]: unknown;
    };
    [field: string]: unknown;
  };
  networks?: Array<{ name: string; pod?: object; multus?: object; [field: string]: unknown }>;
  volumes?: Volume[];
  evictionStrategy?: string;
  terminationGracePeriodSeconds?: number;
  [field: string]: unknown;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  lastProbeTime?: string | null;
}

export type VmiPhase = 'Pending' | 'Scheduling' | 'Scheduled' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

export interface VirtualMachineInstance {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: VirtualMachineInstanceSpec;
  status?: {
    phase?: VmiPhase;
    conditions?: Condition[];
    nodeName?: string;
    reason?: string;
    phaseTransitionTimestamps?: Array<{ phase: string; phaseTransitionTimestamp: string }>;
    activePods?: Record<string, string>;
    [field: string]: unknown;
  };
}

export const VmiFinalPhases: ReadonlySet<string> = new Set(['Succeeded', 'Failed']);
