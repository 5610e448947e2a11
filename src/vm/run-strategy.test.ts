import { describe, expect, it } from 'vitest';
import { decideRun, printableStatus, runStrategyOf, type RunInputs } from './run-strategy.ts';
import type { VirtualMachineInstance } from './types.ts';

const vmi = (phase: string, uid = 'u1', deleting = false): VirtualMachineInstance => ({
  metadata: { name: 'vm', uid, ...(deleting ? { deletionTimestamp: 'now' } : {}) },
  status: { phase: phase as never },
});
const base: RunInputs = { strategy: 'Always', vmi: undefined, requests: [], volumesReady: true, backingOff: false };

describe('runStrategyOf', () => {
  it('maps the deprecated running field and refuses both at once or an unknown strategy', () => {
    expect(runStrategyOf({ running: true })).toBe('Always');
    expect(runStrategyOf({ running: false })).toBe('Halted');
    expect(runStrategyOf({})).toBe('Halted');
    expect(runStrategyOf({ runStrategy: 'RerunOnFailure' })).toBe('RerunOnFailure');
    expect(runStrategyOf({ running: true, runStrategy: 'Always' })).toEqual({ invalid: 'running and runStrategy are mutually exclusive' });
    expect(runStrategyOf({ runStrategy: 'Sometimes' })).toEqual({ invalid: 'runStrategy Sometimes is not one of Always, RerunOnFailure, Manual, Halted, Once' });
  });
});

describe('decideRun', () => {
  it('Always creates once volumes are ready, replaces a finished VMI, and waits out a back-off', () => {
    expect(decideRun(base)).toEqual({ create: true, delete: false, consumed: 0 });
    expect(decideRun({ ...base, volumesReady: false }).create).toBe(false);
    expect(decideRun({ ...base, vmi: vmi('Succeeded') }).delete).toBe(true);
    expect(decideRun({ ...base, vmi: vmi('Running') })).toEqual({ create: false, delete: false, consumed: 0 });
    expect(decideRun({ ...base, backingOff: true }).create).toBe(false);
  });

  it('RerunOnFailure reruns only a Failed VMI; Once never reruns; Halted stops; Manual waits for requests', () => {
    expect(decideRun({ ...base, strategy: 'RerunOnFailure', vmi: vmi('Failed') }).delete).toBe(true);
    expect(decideRun({ ...base, strategy: 'RerunOnFailure', vmi: vmi('Succeeded') }).delete).toBe(false);
    expect(decideRun({ ...base, strategy: 'Once' }).create).toBe(true);
    expect(decideRun({ ...base, strategy: 'Once', vmi: vmi('Failed') })).toEqual({ create: false, delete: false, consumed: 0 });
    expect(decideRun({ ...base, strategy: 'Halted', vmi: vmi('Running') }).delete).toBe(true);
    expect(decideRun({ ...base, strategy: 'Halted', vmi: vmi('Succeeded') }).delete).toBe(false);
    expect(decideRun({ ...base, strategy: 'Manual' }).create).toBe(false);
  });

  it('works through state change requests: a Stop for the VMI it names, then the Start behind it', () => {
    const restart = [{ action: 'Stop' as const, uid: 'u1' }, { action: 'Start' as const }];
    expect(decideRun({ ...base, strategy: 'Manual', vmi: vmi('Running'), requests: restart })).toEqual({ create: false, delete: true, consumed: 0 });
    expect(decideRun({ ...base, strategy: 'Manual', vmi: vmi('Running', 'u1', true), requests: restart })).toEqual({ create: false, delete: false, consumed: 0 });
    expect(decideRun({ ...base, strategy: 'Manual', vmi: undefined, requests: restart })).toEqual({ create: false, delete: false, consumed: 1 });
    expect(decideRun({ ...base, strategy: 'Manual', vmi: vmi('Running', 'u2'), requests: restart }).consumed).toBe(1);
    expect(decideRun({ ...base, strategy: 'Manual', requests: [{ action: 'Start' }] })).toEqual({ create: true, delete: false, consumed: 1 });
    expect(decideRun({ ...base, strategy: 'Manual', requests: [{ action: 'Start' }], volumesReady: false }).create).toBe(false);
  });
});

describe('printableStatus', () => {
  const p = { deleting: false, strategy: 'Always' as const, vmi: undefined, requests: [], dataVolumeError: false, claimMissing: false, provisioning: false, unschedulable: false, crashLooping: false };
  it('follows virt-controller precedence', () => {
    expect(printableStatus({ ...p, deleting: true, vmi: vmi('Running') })).toBe('Terminating');
    expect(printableStatus({ ...p, strategy: 'Halted', vmi: vmi('Running') })).toBe('Stopping');
    expect(printableStatus({ ...p, vmi: vmi('Running') })).toBe('Running');
    expect(printableStatus({ ...p, claimMissing: true })).toBe('ErrorPvcNotFound');
    expect(printableStatus({ ...p, dataVolumeError: true })).toBe('DataVolumeError');
    expect(printableStatus({ ...p, provisioning: true })).toBe('Provisioning');
    expect(printableStatus({ ...p, vmi: vmi('Scheduling') })).toBe('Starting');
    expect(printableStatus(p)).toBe('Starting');
    expect(printableStatus({ ...p, crashLooping: true, vmi: vmi('Failed') })).toBe('CrashLoopBackOff');
    expect(printableStatus({ ...p, strategy: 'Halted' })).toBe('Stopped');
    expect(printableStatus({ ...p, strategy: 'Once', vmi: vmi('Succeeded') })).toBe('Stopped');
  });
});
