/** DataVolume phases, spelled as upstream CDI's `DataVolumePhase` constants. */
export const DataVolumePhases = [
  '',
  'Pending',
  'PVCBound',
  'ImportScheduled',
  'ImportInProgress',
  'CloneScheduled',
  'CloneInProgress',
  'SnapshotForSmartCloneInProgress',
  'CloneFromSnapshotSourceInProgress',
  'SmartClonePVCInProgress',
  'CSICloneInProgress',
  'ExpansionInProgress',
  'NamespaceTransferInProgress',
  'UploadScheduled',
  'UploadReady',
  'WaitForFirstConsumer',
  'PendingPopulation',
  'PrepClaimInProgress',
  'RebindInProgress',
  'Paused',
  'Succeeded',
  'Failed',
  'Unknown',
] as const;

export type DataVolumePhase = (typeof DataVolumePhases)[number];

export const Phase = {
  Unset: '',
  Pending: 'Pending',
  PVCBound: 'PVCBound',
  ImportScheduled: 'ImportScheduled',
  ImportInProgress: 'ImportInProgress',
  CloneScheduled: 'CloneScheduled',
  CloneInProgress: 'CloneInProgress',
  UploadScheduled: 'UploadScheduled',
  UploadReady: 'UploadReady',
  WaitForFirstConsumer: 'WaitForFirstConsumer',
  PendingPopulation: 'PendingPopulation',
  Paused: 'Paused',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Unknown: 'Unknown',
} as const satisfies Record<string, DataVolumePhase>;

export function isFinalPhase(phase: string | undefined): boolean {
  return phase === Phase.Succeeded || phase === Phase.Failed;
}

/** KubeVirt's readiness rule (CDI `IsSucceededOrPendingPopulation`): the VM may use the volume. */
export function isSucceededOrPendingPopulation(phase: string | undefined): boolean {
  return phase === Phase.Succeeded || phase === Phase.PendingPopulation;
}

/** The progress strings CDI writes to `status.progress`. */
export const Progress = {
  unknown: 'N/A',
  done: '100.0%',
  format: (percent: number): string => `${Math.min(100, Math.max(0, percent)).toFixed(2)}%`,
} as const;
