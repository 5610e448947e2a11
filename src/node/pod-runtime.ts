import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { PodReason } from '../api/conditions.ts';
import type { Logger } from '../api/logger.ts';
import { resetsBackoff, restartDelayMs, shouldRestart, type BackoffPolicy, type RestartPolicy } from './backoff.ts';
import { startContainer, type RunningContainer } from './container-process.ts';
import type { PodEventSink } from './events.ts';
import { compileCacheDir, pidFilePath, podDir, podLogPath, podTmpDir } from './layout.ts';
import type { ContainerPlan, PodPlan, ProbePlan } from './pod-plan.ts';
import { nowRfc3339, type ContainerView, type PodView, type Terminated } from './pod-status.ts';
import { runProbe } from './probe.ts';
import { runReadinessProbing } from './readiness-probing.ts';
import type { Privileges } from './worker-privileges.ts';

export interface PodRuntimeOptions {
  dataDir: string;
  /** Per container name: the user it runs as and what it gives up. */
  privileges: ReadonlyMap<string, Privileges>;
  backoff: BackoffPolicy;
  /** Probes run at least this often, however long the pod's periodSeconds: local probes are cheap. */
  maxProbeIntervalMs: number;
  logger: Logger;
  onChange: () => void;
  onEvent: PodEventSink;
}

/**
 * The kubelet's job for one pod: runs each container's process, restarts it per restartPolicy
 * with back-off, probes readiness, and keeps the view the pod status is computed from. A
 * runtime seeded from a status written by an earlier agent continues the restart count; a
 * container that was running then (its process is gone now) counts as terminated.
 */
export class PodRuntime {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  private readonly restartPolicy: RestartPolicy;
  private readonly containers: ContainerView[];
  private readonly running = new Map<string, RunningContainer>();
  private readonly abort = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly startTime: string;
  private readonly opts: PodRuntimeOptions;
  private readonly plan: PodPlan;

  constructor(pod: V1Pod, plan: PodPlan, opts: PodRuntimeOptions) {
    this.uid = pod.metadata?.uid ?? '';
    this.namespace = pod.metadata?.namespace ?? 'default';
    this.name = pod.metadata?.name ?? '';
    this.restartPolicy = (pod.spec?.restartPolicy as RestartPolicy | undefined) ?? 'Always';
    this.opts = opts;
    this.plan = plan;
    const start = pod.status?.startTime;
    this.startTime = start ? (start instanceof Date ? nowRfc3339(start) : String(start)) : nowRfc3339();
    const previous = new Map((pod.status?.containerStatuses ?? []).map((s) => [s.name, s]));
    this.containers = (pod.spec?.containers ?? []).map((c) => seedView(c.name, c.image ?? '', previous.get(c.name), this.restartPolicy));
  }

  view(): PodView {
    return { restartPolicy: this.restartPolicy, startTime: this.startTime, containers: this.containers.map((c) => ({ ...c })) };
  }

  start(): void {
    for (const cp of this.plan.containers) {
      const cv = this.containers.find((c) => c.name === cp.name);
      if (!cv || 'terminated' in cv.state) continue;
      this.loops.push(this.runLoop(cp, cv).catch((err: unknown) => this.opts.logger.error({ err, container: cp.name }, 'container loop failed')));
    }
  }

  /** Stops every process (SIGTERM, SIGKILL after the grace period) and waits for the loops. */
  async stop(graceMs: number): Promise<void> {
    this.abort.abort();
    for (const name of this.running.keys()) this.opts.onEvent('Normal', 'Killing', `Stopping container ${name}`);
    await Promise.all([...this.running.values()].map((r) => r.stop(graceMs)));
    await Promise.all(this.loops);
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async runLoop(cp: ContainerPlan, cv: ContainerView): Promise<void> {
    const log = this.opts.logger.child({ pod: `${this.namespace}/${this.name}`, container: cp.name });
    let failures = 0;
    if ('waiting' in cv.state && cv.state.waiting.reason === PodReason.CrashLoopBackOff) {
      cv.restartCount += 1;
    }
    for (;;) {
      if (this.stopped) return;
      const dir = podDir(this.opts.dataDir, this.namespace, this.name);
      const proc = await startContainer({
        plan: cp,
        logPath: podLogPath(this.opts.dataDir, this.namespace, this.name, cp.name),
        previousLogPath: podLogPath(this.opts.dataDir, this.namespace, this.name, cp.name, true),
        pidPath: pidFilePath(this.opts.dataDir, this.namespace, this.name, cp.name),
        workDir: dir,
        tmpDir: podTmpDir(this.opts.dataDir, this.namespace, this.name),
        compileCacheRoot: (uid) => compileCacheDir(this.opts.dataDir, uid),
        privileges: this.opts.privileges.get(cp.name) ?? { mode: 'unprivileged', why: 'no privileges planned' },
        logger: log,
      });
      this.running.set(cp.name, proc);
      if (this.stopped) {
        await proc.stop(0);
        return;
      }
      if (proc.pid === 0) {
        this.opts.onEvent('Warning', 'Failed', `Error: failed to start container ${cp.name}`);
      } else {
        this.opts.onEvent('Normal', 'Pulled', `Container image "${cv.image}" already present on machine`);
        this.opts.onEvent('Normal', 'Created', `Created container ${cp.name}`);
        this.opts.onEvent('Normal', 'Started', `Started container ${cp.name}`);
      }
      cv.state = { running: { startedAt: proc.startedAt } };
      cv.ready = !cp.readiness;
      this.opts.onChange();
      const probing = this.probeReadiness(cp, cv, proc);
      const term = await proc.exited;
      this.running.delete(cp.name);
      cv.ready = false;
      await probing;
      if (this.stopped) return;
      log.info({ exitCode: term.exitCode, message: term.message }, 'container exited');
      if (!shouldRestart(this.restartPolicy, term.exitCode)) {
        cv.state = { terminated: term };
        this.opts.onChange();
        return;
      }
      const ranMs = Date.parse(term.finishedAt) - Date.parse(term.startedAt);
      failures = resetsBackoff(ranMs, this.opts.backoff) ? 1 : failures + 1;
      const delay = restartDelayMs(failures, this.opts.backoff);
      cv.lastTerminated = term;
      cv.state = {
        waiting: { reason: PodReason.CrashLoopBackOff, message: `back-off ${Math.round(delay / 1000)}s restarting failed container=${cp.name} pod=${this.name}_${this.namespace}(${this.uid})` },
      };
      this.opts.onChange();
      this.opts.onEvent('Warning', 'BackOff', `Back-off restarting failed container ${cp.name} in pod ${this.name}_${this.namespace}(${this.uid})`);
      try {
        await sleep(delay, undefined, { signal: this.abort.signal });
      } catch {
        return;
      }
      cv.restartCount += 1;
    }
  }

  /** Probes readiness for one start of the container, until it exits or the pod stops. */
  private probeReadiness(cp: ContainerPlan, cv: ContainerView, proc: RunningContainer): Promise<void> {
    const readiness = cp.readiness;
    if (!readiness) return Promise.resolve();
    const exited = new AbortController();
    void proc.exited.then(() => exited.abort());
    return runReadinessProbing({
      timing: readiness.timing,
      maxIntervalMs: this.opts.maxProbeIntervalMs,
      probe: () => runProbe(readiness.probe, readiness.timing.timeoutMs),
      onReady: (ready) => {
        cv.ready = ready;
        this.opts.onChange();
      },
      onUnhealthy: () => this.opts.onEvent('Warning', 'Unhealthy', `Readiness probe failed: ${describeProbe(readiness.probe)}`),
      signal: AbortSignal.any([this.abort.signal, exited.signal]),
    });
  }
}

function describeProbe(p: ProbePlan): string {
  switch (p.type) {
    case 'http':
      return `Get "${p.scheme}://127.0.0.1:${p.port}${p.path}" did not answer 200-399`;
    case 'tcp':
      return `dial tcp 127.0.0.1:${p.port}: connection refused`;
  }
}

function seedView(name: string, image: string, prev: V1ContainerStatus | undefined, policy: RestartPolicy): ContainerView {
  const fresh: ContainerView = { name, image, restartCount: 0, state: { waiting: { reason: PodReason.ContainerCreating } }, ready: false };
  if (!prev) return fresh;
  const restartCount = prev.restartCount ?? 0;
  const lastTerminated = prev.lastState?.terminated ? toTerminated(prev.lastState.terminated) : undefined;
  const base = { name, image, restartCount, ready: false, ...(lastTerminated ? { lastTerminated } : {}) };
  if (prev.state?.terminated) return { ...base, state: { terminated: toTerminated(prev.state.terminated) } };
  if (prev.state?.running) {
    const now = nowRfc3339();
    const startedAt = prev.state.running.startedAt;
    const gone: Terminated = {
      exitCode: 137,
      reason: PodReason.ContainerStatusUnknown,
      message: 'The container could not be located when the node agent restarted',
      startedAt: startedAt ? (startedAt instanceof Date ? nowRfc3339(startedAt) : String(startedAt)) : now,
      finishedAt: now,
    };
    if (!shouldRestart(policy, gone.exitCode)) return { ...base, state: { terminated: gone } };
    return { ...base, lastTerminated: gone, state: { waiting: { reason: PodReason.CrashLoopBackOff, message: 'restarting after the node agent restarted' } } };
  }
  return { ...base, state: { waiting: { reason: prev.state?.waiting?.reason ?? PodReason.ContainerCreating } } };
}

function toTerminated(t: NonNullable<NonNullable<V1ContainerStatus['state']>['terminated']>): Terminated {
  const time = (d: unknown) => (d instanceof Date ? nowRfc3339(d) : d ? String(d) : nowRfc3339());
  return {
    exitCode: t.exitCode,
    ...(t.signal !== undefined ? { signal: t.signal } : {}),
    reason: t.reason ?? (t.exitCode === 0 ? 'Completed' : 'Error'),
    ...(t.message ? { message: t.message } : {}),
    startedAt: time(t.startedAt),
    finishedAt: time(t.finishedAt),
  };
}

/** Removes what the agent kept for a pod (logs, materialised volumes, pid files). */
export async function removePodDir(dataDir: string, namespace: string, name: string): Promise<void> {
  await fs.promises.rm(podDir(dataDir, namespace, name), { recursive: true, force: true });
}
