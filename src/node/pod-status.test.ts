import { describe, expect, it } from 'vitest';
import { computePodStatus, podPhase, type ContainerView, type PodView } from './pod-status.ts';

const t = '2026-01-01T00:00:00Z';
const container = (over: Partial<ContainerView>): ContainerView => ({
  name: 'importer',
  image: 'cdi-ts/importer:v1',
  restartCount: 0,
  state: { waiting: { reason: 'ContainerCreating' } },
  ready: false,
  ...over,
});
const view = (c: ContainerView, restartPolicy: PodView['restartPolicy'] = 'OnFailure'): PodView => ({ restartPolicy, containers: [c], startTime: t });
const failed = { exitCode: 1, reason: 'Error', message: 'boom', startedAt: t, finishedAt: t };

describe('pod phase', () => {
  it('is Pending until the container first starts, Running while it runs', () => {
    expect(podPhase(view(container({})))).toBe('Pending');
    expect(podPhase(view(container({ state: { running: { startedAt: t } } })))).toBe('Running');
  });

  it('stays Running through a crash-loop back-off', () => {
    const c = container({ restartCount: 1, lastTerminated: failed, state: { waiting: { reason: 'CrashLoopBackOff' } } });
    expect(podPhase(view(c))).toBe('Running');
  });

  it('is Succeeded when every container exited 0 and Failed when one did not and will not restart', () => {
    expect(podPhase(view(container({ restartCount: 2, state: { terminated: { ...failed, exitCode: 0, reason: 'Completed' } } })))).toBe('Succeeded');
    expect(podPhase(view(container({ state: { terminated: failed } }), 'Never'))).toBe('Failed');
  });

  it('is Pending with a PodScheduled condition saying why when the pod cannot run here', () => {
    const v: PodView = { restartPolicy: 'Never', containers: [container({})], unschedulable: { reason: 'Unschedulable', message: 'image busybox cannot run locally' } };
    const s = computePodStatus(v, undefined, t);
    expect(s.phase).toBe('Pending');
    expect(s.conditions).toEqual([expect.objectContaining({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'image busybox cannot run locally' })]);
    expect(s.podIP).toBeUndefined();
  });
});

describe('pod status', () => {
  it('reports readiness, restarts and the last termination', () => {
    const c = container({ restartCount: 2, lastTerminated: failed, state: { running: { startedAt: t } }, ready: true });
    const s = computePodStatus(view(c), undefined, t);
    expect(s.phase).toBe('Running');
    expect(s.podIP).toBe('127.0.0.1');
    expect(s.conditions.find((x) => x.type === 'Ready')?.status).toBe('True');
    expect(s.containerStatuses[0]).toMatchObject({ restartCount: 2, ready: true, started: true, lastState: { terminated: { exitCode: 1, message: 'boom' } } });
  });

  it('names unready containers and keeps transition times of unchanged conditions', () => {
    const first = computePodStatus(view(container({ state: { running: { startedAt: t } } })), undefined, '2026-01-01T00:00:01Z');
    expect(first.conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [importer]' });
    const later = computePodStatus(view(container({ state: { running: { startedAt: t } } })), first, '2026-01-01T00:00:09Z');
    expect(later.conditions.find((x) => x.type === 'Ready')?.lastTransitionTime).toBe('2026-01-01T00:00:01Z');
    const ready = computePodStatus(view(container({ state: { running: { startedAt: t } }, ready: true })), later, '2026-01-01T00:00:10Z');
    expect(ready.conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'True', lastTransitionTime: '2026-01-01T00:00:10Z' });
  });

  it('marks a completed pod not ready with reason PodCompleted', () => {
    const s = computePodStatus(view(container({ state: { terminated: { ...failed, exitCode: 0, reason: 'Completed' } } })), undefined, t);
    expect(s.phase).toBe('Succeeded');
    expect(s.conditions.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
  });
});
