import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { ConditionMessage, ConditionType, Reason, type DataVolumeCondition } from '../api/conditions.ts';
import type { DataVolumeStatus } from '../api/datavolume.ts';
import { Phase, type DataVolumePhase } from '../api/phases.ts';

/** Conditions and events derived from a phase, as CDI's `conditions.go` and controller-base do. */
export type RunningFeed = { status: 'True' | 'False' | 'Unknown'; reason: string; message: string };

export function boundCondition(pvc: V1PersistentVolumeClaim | undefined): Omit<DataVolumeCondition, 'type'> {
  if (!pvc) return { status: 'False', reason: Reason.NotFound, message: ConditionMessage.noPvc };
  const name = pvc.metadata?.name ?? '';
  switch (pvc.status?.phase) {
    case 'Bound':
      return { status: 'True', reason: Reason.Bound, message: ConditionMessage.pvcBound(name) };
    case 'Lost':
      return { status: 'False', reason: Reason.ClaimLost, message: ConditionMessage.claimLost };
    default:
      return { status: 'False', reason: Reason.Pending, message: ConditionMessage.pvcPending(name) };
  }
}

export function readyCondition(phase: DataVolumePhase, running: RunningFeed): Omit<DataVolumeCondition, 'type'> {
  if (phase === Phase.Succeeded) return { status: 'True', reason: '', message: '' };
  if (phase === Phase.Unknown) return { status: 'Unknown', reason: '', message: '' };
  if (running.status === 'True') return { status: 'False', reason: Reason.TransferRunning, message: '' };
  return { status: 'False', reason: '', message: '' };
}

/** Keeps lastTransitionTime when a condition's status did not change; heartbeat moves with any change. */
export function mergeConditions(
  previous: DataVolumeStatus['conditions'],
  next: Record<'Ready' | 'Bound' | 'Running', Omit<DataVolumeCondition, 'type'>>,
  now: string,
): NonNullable<DataVolumeStatus['conditions']> {
  return (['Ready', 'Bound', 'Running'] as const).map((type) => {
    const before = previous?.find((c) => c.type === type);
    const want = next[type];
    const same = before && before.status === want.status && (before.reason ?? '') === want.reason && (before.message ?? '') === want.message;
    if (same) return before as NonNullable<DataVolumeStatus['conditions']>[number];
    return {
      type: ConditionType[type],
      status: want.status,
      reason: want.reason ?? '',
      message: want.message ?? '',
      lastHeartbeatTime: now,
      lastTransitionTime: before && before.status === want.status ? (before.lastTransitionTime ?? now) : now,
    };
  });
}

type Flow = 'import' | 'upload' | 'clone';

/** CDI's event reason and message for entering a phase (nothing for phases CDI does not announce). */
export function phaseEvent(flow: Flow, phase: DataVolumePhase, claim: string): { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined {
  const table: Record<Flow, Partial<Record<DataVolumePhase, [string, string]>>> = {
    import: {
      ImportScheduled: ['ImportScheduled', `Import into ${claim} scheduled`],
      ImportInProgress: ['ImportInProgress', `Import into ${claim} in progress`],
      Succeeded: ['ImportSucceeded', `Successfully imported into PVC ${claim}`],
      Failed: ['ImportFailed', `Failed to import into PVC ${claim}`],
    },
    upload: {
      UploadScheduled: ['UploadScheduled', `Upload into ${claim} scheduled`],
      UploadReady: ['UploadReady', `Upload into ${claim} ready`],
      Succeeded: ['UploadSucceeded', `Successfully uploaded into ${claim}`],
      Failed: ['UploadFailed', `Upload into ${claim} failed`],
    },
    clone: {
      CloneScheduled: ['CloneScheduled', `Cloning from source into ${claim} scheduled`],
      CloneInProgress: ['CloneInProgress', `Cloning from source into ${claim} in progress`],
      Succeeded: ['CloneSucceeded', `Successfully cloned into ${claim}`],
      Failed: ['CloneFailed', `Cloning into ${claim} failed`],
    },
  };
  const row = table[flow][phase];
  if (!row) return undefined;
  return { type: phase === Phase.Failed ? 'Warning' : 'Normal', reason: row[0], message: row[1] };
}
