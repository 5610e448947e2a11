import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { V1MicroTime, type CoordinationV1Api, type V1Lease, type V1LeaseSpec } from '@kubernetes/client-node';
import type { Logger } from '../api/logger.ts';
import { isConflict, isNotFound } from './kube-errors.ts';

/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection package does
 * it (client-node has none). A candidate takes the lease when it is free or when the holder has
 * not renewed it for a lease duration measured on the candidate's own clock (no cross-node clock
 * comparison); the leader renews every retry period and steps down when it has not renewed
 * within the renew deadline. Writes carry the resourceVersion read, so two candidates can never
 * both win one round.
 */

export const CdiLeaderLockName = 'cdi-controller-leader-election-helper';

export type LeaseClient = Pick<CoordinationV1Api, 'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'>;

export interface LeaderElectionOptions {
  leases: LeaseClient;
  namespace: string;
  name?: string;
  identity?: string;
  /** controller-runtime's defaults: 15 s lease, 10 s renew deadline, 2 s retry. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Give the lease up on stop so a standby takes over at once instead of after a lease duration. */
  releaseOnStop?: boolean;
  logger: Logger;
  now?: () => number;
}

export interface LeaderCallbacks {
  /** Runs while this process leads; `signal` aborts when leadership ends. */
  onStartedLeading(signal: AbortSignal): void;
  onStoppedLeading?(): void;
  onNewLeader?(identity: string): void;
}

const JitterFactor = 1.2;

export function defaultIdentity(): string {
  return `${process.env.POD_NAME ?? hostname()}_${randomUUID()}`;
}

export class LeaderElector {
  readonly identity: string;
  readonly #opts: Required<Omit<LeaderElectionOptions, 'identity'>>;
  readonly #log: Logger;
  readonly #stop = new AbortController();
  #observedSpec: string | undefined;
  #observedTime = 0;
  #observedHolder: string | undefined;
  #leading = false;

  constructor(opts: LeaderElectionOptions) {
    this.identity = opts.identity ?? defaultIdentity();
    this.#opts = {
      name: CdiLeaderLockName,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      releaseOnStop: true,
      now: Date.now,
      ...opts,
    };
    if (this.#opts.leaseDurationMs <= this.#opts.renewDeadlineMs) throw new RangeError('leaseDuration must be greater than renewDeadline');
    if (this.#opts.renewDeadlineMs <= JitterFactor * this.#opts.retryPeriodMs) throw new RangeError('renewDeadline must be greater than retryPeriod*1.2');
    this.#log = opts.logger.child({ component: 'leader-election', lease: `${this.#opts.namespace}/${this.#opts.name}`, identity: this.identity });
  }

  get isLeader(): boolean {
    return this.#leading;
  }

  /** Campaigns until elected, leads until the lease is lost or stop() is called, then resolves. */
  async run(callbacks: LeaderCallbacks): Promise<void> {
    const stop = this.#stop.signal;
    if (!(await this.#acquire(callbacks))) return;
    const leadership = new AbortController();
    this.#leading = true;
    this.#log.info({}, 'became leader');
    try {
      callbacks.onStartedLeading(leadership.signal);
      await this.#renewUntilLost(stop);
    } finally {
      this.#leading = false;
      leadership.abort();
      if (this.#opts.releaseOnStop && stop.aborted) await this.#release();
      this.#log.info({}, 'stopped leading');
      callbacks.onStoppedLeading?.();
    }
  }

  /** Ends the campaign or the leadership; run() resolves after the lease is released. */
  stop(): void {
    this.#stop.abort();
  }

  async #acquire(callbacks: LeaderCallbacks): Promise<boolean> {
    const stop = this.#stop.signal;
    while (!stop.aborted) {
      const holder = this.#observedHolder;
      if (await this.#tryAcquireOrRenew()) return true;
      if (this.#observedHolder && this.#observedHolder !== holder) callbacks.onNewLeader?.(this.#observedHolder);
      await this.#sleep(this.#opts.retryPeriodMs * (1 + Math.random() * (JitterFactor - 1)));
    }
    return false;
  }

  async #renewUntilLost(stop: AbortSignal): Promise<void> {
    let lastRenew = this.#opts.now();
    while (!stop.aborted) {
      await this.#sleep(this.#opts.retryPeriodMs);
      if (stop.aborted) return;
      if (await this.#tryAcquireOrRenew()) {
        lastRenew = this.#opts.now();
      } else if (this.#opts.now() - lastRenew >= this.#opts.renewDeadlineMs) {
        this.#log.warn({ holder: this.#observedHolder }, 'failed to renew the lease within the renew deadline');
        return;
      }
    }
  }

  async #sleep(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.#stop.signal }).catch(() => {});
  }

  #spec(previous: V1LeaseSpec | undefined): V1LeaseSpec {
    const now = new V1MicroTime(this.#opts.now());
    const same = previous?.holderIdentity === this.identity;
    return {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.#opts.leaseDurationMs / 1000),
      acquireTime: same && previous?.acquireTime ? previous.acquireTime : now,
      renewTime: now,
      leaseTransitions: !previous ? 0 : (previous.leaseTransitions ?? 0) + (same ? 0 : 1),
    };
  }

  #observe(spec: V1LeaseSpec | undefined): void {
    const key = JSON.stringify([spec?.holderIdentity, spec?.renewTime, spec?.leaseTransitions]);
    if (key !== this.#observedSpec) {
      this.#observedSpec = key;
      this.#observedTime = this.#opts.now();
      this.#observedHolder = spec?.holderIdentity ?? undefined;
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.#opts;
    let lease: V1Lease;
    try {
      lease = await this.#opts.leases.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) {
        this.#log.warn({ err }, 'cannot read the lease');
        return false;
      }
      return this.#write(() => this.#opts.leases.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: this.#spec(undefined) } }));
    }
    this.#observe(lease.spec);
    const holder = lease.spec?.holderIdentity;
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    if (holder && holder !== this.identity && this.#observedTime + durationMs > this.#opts.now()) return false;
    const body: V1Lease = { ...lease, spec: this.#spec(lease.spec) };
    return this.#write(() => this.#opts.leases.replaceNamespacedLease({ name, namespace, body }));
  }

  async #write(write: () => Promise<V1Lease>): Promise<boolean> {
    try {
      this.#observe((await write()).spec);
      return true;
    } catch (err) {
      if (!isConflict(err)) this.#log.warn({ err }, 'cannot write the lease');
      return false;
    }
  }

  /** Like client-go's ReleaseOnCancel: empty holder and a 1 s duration so a standby takes over. */
  async #release(): Promise<void> {
    const { namespace, name } = this.#opts;
    try {
      const lease = await this.#opts.leases.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.identity) return;
      const now = new V1MicroTime(this.#opts.now());
      const spec: V1LeaseSpec = { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now };
      await this.#opts.leases.replaceNamespacedLease({ name, namespace, body: { ...lease, spec } });
    } catch (err) {
      this.#log.warn({ err }, 'cannot release the lease');
    }
  }
}
