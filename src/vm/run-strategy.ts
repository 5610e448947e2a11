import { VmiFinalPhases, type VirtualMachineInstance } from './types.ts';

/**
 * virt-controller's run-strategy decisions for one VM, pure: whether its VMI should be created
 * or deleted now, which state change requests (the start/stop/restart subresources') are done,
 * and the VM's printableStatus. The deprecated `running: true|false` is Always|Halted.
 */
export type RunStrategy = 'Always' | 'RerunOnFailure' | 'Manual' | 'Halted' | 'Once';
export const RunStrategies: readonly RunStrategy[] = ['Always', 'RerunOnFailure', 'Manual', 'Halted', 'Once'];

export interface StateChangeRequest {
  action: 'Start' | 'Stop';
  uid?: string;
  data?: Record<string, string>;
}

export interface RunSpec {
  running?: boolean;
  runStrategy?: string;
}

export function runStrategyOf(spec: RunSpec | undefined): RunStrategy | { invalid: string } {
  if (spec?.running !== undefined && spec.runStrategy !== undefined) return { invalid: 'running and runStrategy are mutually exclusive' };
  if (spec?.running !== undefined) return spec.running ? 'Always' : 'Halted';
  if (spec?.runStrategy === undefined) return 'Halted';
  return (RunStrategies as readonly string[]).includes(spec.runStrategy) ? (spec.runStrategy as RunStrategy) : { invalid: `runStrategy ${spec.runStrategy} is not one of ${RunStrategies.join(', ')}` };
}

export interface RunInputs {
  strategy: RunStrategy;
  vmi: VirtualMachineInstance | undefined;
  requests: readonly StateChangeRequest[];
  /** Every volume the VMI needs exists and is ready (KubeVirt waits for DataVolumes). */
  volumesReady: boolean;
  /** A start failure back-off is in force (CrashLoopBackOff). */
  backingOff: boolean;
}

export interface RunDecision {
  create: boolean;
  delete: boolean;
  /** How many requests at the head of status.stateChangeRequests are done. */
  consumed: number;
}

const isFinal = (vmi: VirtualMachineInstance | undefined) => VmiFinalPhases.has(vmi?.status?.phase ?? '');

export function decideRun(i: RunInputs): RunDecision {
  const { vmi } = i;
  const none: RunDecision = { create: false, delete: false, consumed: 0 };
  const head = i.requests[0];
  if (head?.action === 'Stop') {
    const matches = vmi !== undefined && (head.uid === undefined || head.uid === vmi.metadata?.uid);
    if (matches && !vmi.metadata?.deletionTimestamp) return { ...none, delete: true };
    // The VMI it named is gone (or never was): the stop is done; a Start behind it goes next.
    if (!matches || !vmi) return { ...none, consumed: 1 };
    return none;
  }
  if (head?.action === 'Start') {
    if (vmi && isFinal(vmi) && !vmi.metadata?.deletionTimestamp) return { ...none, delete: true };
    if (vmi) return vmi.metadata?.deletionTimestamp ? none : { ...none, consumed: 1 };
    return i.volumesReady ? { ...none, create: true, consumed: 1 } : none;
  }
  switch (i.strategy) {
    case 'Always':
      if (vmi && isFinal(vmi) && !vmi.metadata?.deletionTimestamp) return { ...none, delete: true };
      return !vmi && i.volumesReady && !i.backingOff ? { ...none, create: true } : none;
    case 'RerunOnFailure':
      if (vmi?.status?.phase === 'Failed' && !vmi.metadata?.deletionTimestamp) return { ...none, delete: true };
      return !vmi && i.volumesReady && !i.backingOff ? { ...none, create: true } : none;
    case 'Once':
      return !vmi && i.volumesReady ? { ...none, create: true } : none;
    case 'Halted':
      return vmi && !isFinal(vmi) && !vmi.metadata?.deletionTimestamp ? { ...none, delete: true } : none;
    case 'Manual':
      return none;
  }
}

/** Whether the strategy (and pending requests) want a VMI running: "start expected". */
export function startExpected(strategy: RunStrategy, vmi: VirtualMachineInstance | undefined, requests: readonly StateChangeRequest[]): boolean {
  if (requests.some((r) => r.action === 'Start')) return true;
  if (requests[0]?.action === 'Stop') return false;
  switch (strategy) {
    case 'Always':
      return true;
    case 'RerunOnFailure':
      return vmi?.status?.phase !== 'Succeeded';
    case 'Once':
      return vmi === undefined;
    default:
      return false;
  }
}

export interface PrintableInputs {
  deleting: boolean;
  strategy: RunStrategy;
  vmi: VirtualMachineInstance | undefined;
  requests: readonly StateChangeRequest[];
  dataVolumeError: boolean;
  claimMissing: boolean;
  provisioning: boolean;
  unschedulable: boolean;
  /** The launcher pod cannot get a containerDisk image: the VMI's Synchronized reason. */
  imagePull?: string | undefined;
  crashLooping: boolean;
}

/** Launcher container waiting reasons the VMI reports as Synchronized=False and the VM as its printableStatus. */
export const imagePullReasons: ReadonlySet<string> = new Set(['ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull']);

/** virt-controller's setPrintableStatus: the first status that holds, in its order. */
export function printableStatus(p: PrintableInputs): string {
  const { vmi } = p;
  const live = vmi !== undefined && !isFinal(vmi);
  const stopExpected = p.requests[0]?.action === 'Stop';
  if (p.deleting) return 'Terminating';
  if (live && (vmi.metadata?.deletionTimestamp !== undefined || stopExpected || p.strategy === 'Halted')) return 'Stopping';
  if (vmi?.status?.phase === 'Running') return 'Running';
  if (p.claimMissing) return 'ErrorPvcNotFound';
  if (p.dataVolumeError) return 'DataVolumeError';
  if (p.unschedulable) return 'ErrorUnschedulable';
  if (p.provisioning) return 'Provisioning';
  if (p.imagePull) return p.imagePull === 'ErrImageNeverPull' ? 'ErrImagePull' : p.imagePull;
  if (vmi ? live : startExpected(p.strategy, vmi, p.requests) && !p.crashLooping) return 'Starting';
  if (p.crashLooping) return 'CrashLoopBackOff';
  return 'Stopped';
}
