/** DataVolume condition types, reasons and messages as CDI's `pkg/controller/datavolume/conditions.go`. */
import { CdiError } from './errors.ts';

export const ConditionType = { Ready: 'Ready', Bound: 'Bound', Running: 'Running' } as const;
type DataVolumeConditionType = (typeof ConditionType)[keyof typeof ConditionType];

export const Reason = {
  Bound: 'Bound',
  Pending: 'Pending',
  ClaimLost: 'ClaimLost',
  NotFound: 'NotFound',
  TransferRunning: 'TransferRunning',
  Completed: 'Completed',
  Error: 'Error',
  ImagePullFailed: 'ImagePullFailed',
  Unschedulable: 'Unschedulable',
  ChecksumError: 'ChecksumError',
  ScratchSpaceRequired: 'Scratch space required',
  /** Ours: the retry budget from CDIConfig ran out (CDI PR #3619 asked for a way out of the loop). */
  RetryBudgetExhausted: 'RetryBudgetExhausted',
  /** Ours: a source CDI supports that this implementation cannot run. */
  SourceNotSupported: 'SourceNotSupported',
  PodRunning: 'Pod is running',
  CloneWithoutSource: 'CloneWithoutSource',
  ErrResourceExists: 'ErrResourceExists',
  ErrClaimNotValid: 'ErrClaimNotValid',
} as const;

/** Reasons of a DataSource's Ready condition, as CDI's DataSource controller writes them. */
export const DataSourceReason = {
  Ready: 'Ready',
  NotFound: 'NotFound',
  NoSource: 'NoSource',
  /** Ours: a snapshot source, which this implementation has no VolumeSnapshots for. */
  SnapshotNotSupported: 'SnapshotNotSupported',
  CrossNamespaceReference: 'CrossNamespaceReference',
  SelfReference: 'SelfReference',
  MaxReferenceDepthReached: 'MaxReferenceDepthReached',
} as const;

/** Pod condition and container state reasons the local node agent writes, as the scheduler and kubelet write them. */
export const PodReason = {
  Unschedulable: 'Unschedulable',
  ContainerCreating: 'ContainerCreating',
  CrashLoopBackOff: 'CrashLoopBackOff',
  ContainerStatusUnknown: 'ContainerStatusUnknown',
  CreateContainerConfigError: 'CreateContainerConfigError',
  ErrImageNeverPull: 'ErrImageNeverPull',
  ErrImagePull: 'ErrImagePull',
} as const;

/** Reasons of a VirtualMachine's DataVolumesReady condition, as KubeVirt writes them. */
export const VmReason = { AllDVsReady: 'AllDVsReady', NotAllDVsReady: 'NotAllDVsReady' } as const;

export const ConditionMessage = {
  pvcBound: (name: string) => `PVC ${name} Bound`,
  pvcPending: (name: string) => `PVC ${name} Pending`,
  claimLost: 'Claim Lost',
  noPvc: 'No PVC found',
  podRunning: 'Pod is running',
  unschedulable: 'Importer pod cannot be scheduled',
  imagePull: (image: string) => `failed to pull image: ${image}`,
  tooSmall: 'DataVolume too small to contain image',
} as const;

/** Worker error texts CDI rewrites to "DataVolume too small to contain image". */
const SpaceErrorPatterns = [
  'is larger than the reported available',
  'no space left on device',
  'disk quota exceeded',
  'file largest block is bigger than maxblock',
] as const;

/** A full filesystem or quota: on a volume of its own the volume is full, on cdi serve the node's disk. */
const DeviceFullPatterns = ['no space left on device', 'disk quota exceeded'] as const;

/**
 * CDI's rewrite of a worker's space error. `volumesOnNodeDisk` (cdi serve): volumes are files on
 * the node's disk whose capacity is a file-size limit, so the volume being full shows as "file too
 * large" (EFBIG) and is the one "too small"; ENOSPC there means the node's disk is full, which
 * no larger DataVolume fixes, and is said so.
 */
export function rewriteSpaceError(message: string, volumesOnNodeDisk = false): string {
  const lower = message.toLowerCase();
  if (volumesOnNodeDisk && DeviceFullPatterns.some((p) => lower.includes(p))) return `${new CdiError('CDI_ERR_NODE_DISK_FULL').message} (CDI_ERR_NODE_DISK_FULL)`;
  if (volumesOnNodeDisk && lower.includes('file too large')) return ConditionMessage.tooSmall;
  return SpaceErrorPatterns.some((p) => lower.includes(p)) ? ConditionMessage.tooSmall : message;
}

export interface DataVolumeCondition {
  type: DataVolumeConditionType;
  status: 'True' | 'False' | 'Unknown';
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
  reason?: string;
  message?: string;
}
