/** DataVolume condition types, reasons and messages as CDI's `pkg/controller/datavolume/conditions.go`. */
export const ConditionType = { Ready: 'Ready', Bound: 'Bound', Running: 'Running' } as const;
export type DataVolumeConditionType = (typeof ConditionType)[keyof typeof ConditionType];

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
} as const;

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
export const SpaceErrorPatterns = [
  'is larger than the reported available',
  'no space left on device',
  'disk quota exceeded',
  'file largest block is bigger than maxblock',
] as const;

export function rewriteSpaceError(message: string): string {
  const lower = message.toLowerCase();
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
