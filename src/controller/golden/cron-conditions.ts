import type { DataImportCron } from '../../api/dataimportcron.ts';

type Status = NonNullable<DataImportCron['status']>;
type Condition = NonNullable<Status['conditions']>[number];

/** DataImportCron condition reasons: upstream's, plus ours where upstream has no word for the case. */
export const CronReason = {
  NoDigest: 'NoDigest',
  NoImport: 'NoImport',
  Outdated: 'Outdated',
  ImportScheduled: 'ImportScheduled',
  ImportProgressing: 'ImportProgressing',
  UpToDate: 'UpToDate',
  /** Ours: the registry could not be asked for the current digest; the last import stays in use. */
  DigestPollFailed: 'DigestPollFailed',
  /** Ours: the template asks for something this implementation cannot poll (imageStream, a bad schedule). */
  NotSupported: 'NotSupported',
} as const;

/**
 * Upstream's updateConditionState: the heartbeat moves when anything changes, the transition
 * time only when the status does.
 */
export function setCondition(conditions: Condition[], type: 'UpToDate' | 'Progressing', status: 'True' | 'False', message: string, reason: string, now: string): void {
  const existing = conditions.find((c) => c.type === type);
  if (!existing) {
    conditions.push({ type, status, message, reason, lastTransitionTime: now, lastHeartbeatTime: now });
    return;
  }
  if (existing.status === status && existing.message === message && existing.reason === reason) return;
  if (existing.status !== status) {
    existing.status = status;
    existing.lastTransitionTime = now;
  }
  existing.lastHeartbeatTime = now;
  existing.reason = reason;
  existing.message = message;
}

export function conditionOf(status: Status | undefined, type: string): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}
