import { describe, expect, it, vi } from 'vitest';
import type { V1Lease } from '@kubernetes/client-node';
import { silentLogger } from '../api/logger.ts';
import { LeaderElector, type LeaseClient } from './leader-election.ts';

/** An in-memory Lease endpoint with the API server's optimistic concurrency (409 on a stale resourceVersion). */
function memoryLeases(): LeaseClient & { current(): V1Lease | undefined; failing: boolean } {
  let stored: V1Lease | undefined;
  let version = 0;
  const apiError = (code: number) => Object.assign(new Error(`HTTP ${code}`), { code });
  const save = (lease: V1Lease): V1Lease => {
    stored = JSON.parse(JSON.stringify({ ...lease, metadata: { ...lease.metadata, resourceVersion: String(++version) } }));
    return JSON.parse(JSON.stringify(stored));
  };
  const state = {
    failing: false,
    current: () => stored,
    async readNamespacedLease() {
      if (state.failing) throw apiError(503);
      if (!stored) throw apiError(404);
      return JSON.parse(JSON.stringify(stored)) as V1Lease;
    },
    async createNamespacedLease({ body }: { body: V1Lease }) {
      if (state.failing) throw apiError(503);
      if (stored) throw apiError(409);
      return save(body);
    },
    async replaceNamespacedLease({ body }: { body: V1Lease }) {
      if (state.failing) throw apiError(503);
      if (body.metadata?.resourceVersion !== stored?.metadata?.resourceVersion) throw apiError(409);
      return save(body);
    },
  };
  return state as unknown as LeaseClient & { current(): V1Lease | undefined; failing: boolean };
}

/** The same store, counting the lease reads one candidate makes (one a try to acquire or renew). */
function counted(leases: LeaseClient): { client: LeaseClient; reads(): number } {
  let reads = 0;
  const client = Object.create(leases) as LeaseClient;
  client.readNamespacedLease = (...args: Parameters<LeaseClient['readNamespacedLease']>) => {
    reads++;
    return leases.readNamespacedLease(...args);
  };
  return { client, reads: () => reads };
}

/** Waits until the candidate has tried `n` more times (instead of sleeping to show it does not win). */
async function triesMore(candidate: { reads(): number }, n: number): Promise<void> {
  const target = candidate.reads() + n;
  await vi.waitFor(() => expect(candidate.reads()).toBeGreaterThanOrEqual(target), { timeout: 10_000, interval: 20 });
}

const fast = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100, namespace: 'cdi', logger: silentLogger };

function campaign(elector: LeaderElector) {
  let resolveLeading!: () => void;
  let resolveStopped!: () => void;
  const leading = new Promise<void>((r) => (resolveLeading = r));
  const stopped = new Promise<void>((r) => (resolveStopped = r));
  const done = elector.run({ onStartedLeading: () => resolveLeading(), onStoppedLeading: () => resolveStopped() });
  return { leading, stopped, done };
}

describe('LeaderElector', () => {
  it('validates timings like client-go', () => {
    const leases = memoryLeases();
    expect(() => new LeaderElector({ ...fast, leases, leaseDurationMs: 500 })).toThrow(/leaseDuration/);
    expect(() => new LeaderElector({ ...fast, leases, retryPeriodMs: 550 })).toThrow(/renewDeadline/);
  });

  it('elects one of two candidates; a released lease passes to the other at once', async () => {
    const leases = memoryLeases();
    const a = new LeaderElector({ ...fast, leases, identity: 'a' });
    const bLeases = counted(leases);
    const b = new LeaderElector({ ...fast, leases: bLeases.client, identity: 'b' });
    const ca = campaign(a);
    await ca.leading;
    const cb = campaign(b);
    await triesMore(bLeases, 3);
    expect([a.isLeader, b.isLeader]).toEqual([true, false]);
    expect(leases.current()?.spec?.holderIdentity).toBe('a');

    a.stop();
    await ca.done;
    await cb.leading;
    expect(b.isLeader).toBe(true);
    expect(leases.current()?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1, leaseDurationSeconds: 1 });
    b.stop();
    await cb.done;
    expect(leases.current()?.spec?.holderIdentity).toBe('');
  });

  it('steps down when it cannot renew within the renew deadline', async () => {
    const leases = memoryLeases();
    const a = new LeaderElector({ ...fast, leases, identity: 'a' });
    const ca = campaign(a);
    await ca.leading;
    leases.failing = true;
    await ca.stopped;
    await ca.done;
    expect(a.isLeader).toBe(false);
  });

  it('takes over an abandoned lease only after a full lease duration on its own clock', async () => {
    const leases = memoryLeases();
    let now = 1_000_000;
    const clock = () => now;
    const bLeases = counted(leases);
    const b = new LeaderElector({ ...fast, leases: bLeases.client, identity: 'b', now: clock });
    await leases.createNamespacedLease({
      namespace: 'cdi',
      body: { metadata: { name: 'cdi-controller-leader-election-helper' }, spec: { holderIdentity: 'crashed', leaseDurationSeconds: 1 } },
    });
    const cb = campaign(b);
    await triesMore(bLeases, 3);
    expect(b.isLeader).toBe(false);
    now += 1001;
    await cb.leading;
    expect(leases.current()?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    b.stop();
    await cb.done;
  });
});
