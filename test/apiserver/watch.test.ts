import { Watch } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, type Harness } from './harness.ts';

type Event = { type: string; object: { metadata?: { name?: string; resourceVersion?: string }; code?: number; reason?: string } };

/** Collects one watch stream's events until stopped or closed by the server. */
async function collect(h: Harness, path: string, query: Record<string, string>) {
  const events: Event[] = [];
  let ended = false;
  const ctl = await new Watch(h.kc).watch(
    path,
    query,
    (type, object) => events.push({ type, object } as Event),
    () => (ended = true),
  );
  return { events, ended: () => ended, stop: () => ctl.abort() };
}

describe('apiserver watch', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ watchWindow: 20, bookmarkIntervalMs: 50 });
    await h.core.createNamespace({ body: { metadata: { name: 'w' } } });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('streams ADDED/MODIFIED/DELETED and resumes from a resourceVersion without loss', async () => {
    const first = await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'a' } } });
    const from = first.metadata!.resourceVersion!;
    const live = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: from });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'b' } } });
    await h.core.replaceNamespacedConfigMap({ namespace: 'w', name: 'b', body: { metadata: { name: 'b' }, data: { x: 'y' } } });
    await h.core.deleteNamespacedConfigMap({ namespace: 'w', name: 'a' });
    await eventually(() => (live.events.length >= 3 ? true : undefined), 'three live events');
    live.stop();
    expect(live.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED b', 'MODIFIED b', 'DELETED a']);

    // A second watch from the same resourceVersion replays the same history.
    const replay = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: from });
    await eventually(() => (replay.events.length >= 3 ? true : undefined), 'replayed events');
    replay.stop();
    expect(replay.events.map((e) => e.object.metadata?.resourceVersion)).toEqual(live.events.map((e) => e.object.metadata?.resourceVersion));

    // Without a resourceVersion the watch starts with the current state.
    const fresh = await collect(h, '/api/v1/namespaces/w/configmaps', {});
    await eventually(() => (fresh.events.length >= 1 ? true : undefined), 'initial state');
    fresh.stop();
    expect(fresh.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED b']);
  });

  it('answers 410 Expired for a compacted resourceVersion, and a relist recovers', async () => {
    const start = await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'old' } } });
    for (let i = 0; i < 60; i++) await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: `burst-${i}` } } });
    const stale = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: start.metadata!.resourceVersion! });
    await eventually(() => (stale.ended() ? true : undefined), 'the server to end the expired watch');
    expect(stale.events).toHaveLength(1);
    expect(stale.events[0]).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });

    const list = await h.core.listNamespacedConfigMap({ namespace: 'w' });
    expect(list.items).toHaveLength(62);
    const resumed = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: list.metadata!.resourceVersion! });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'after' } } });
    await eventually(() => (resumed.events.some((e) => e.object.metadata?.name === 'after') ? true : undefined), 'event after relist');
    resumed.stop();
    expect(resumed.events.filter((e) => e.type !== 'BOOKMARK').map((e) => e.object.metadata?.name)).toEqual(['after']);
  });

  it('sends bookmarks when asked and filters by selectors', async () => {
    const rv = (await h.core.listNamespacedConfigMap({ namespace: 'w', limit: 1 })).metadata!.resourceVersion!;
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: rv, allowWatchBookmarks: 'true', labelSelector: 'pick=yes' });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'skip', labels: { pick: 'no' } } } });
    await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'take', labels: { pick: 'yes' } } } });
    await eventually(() => (w.events.some((e) => e.type === 'BOOKMARK') && w.events.some((e) => e.type === 'ADDED') ? true : undefined), 'bookmark and event');
    w.stop();
    expect(w.events.filter((e) => e.type === 'ADDED').map((e) => e.object.metadata?.name)).toEqual(['take']);
    const bookmark = w.events.find((e) => e.type === 'BOOKMARK')!;
    expect(Number(bookmark.object.metadata?.resourceVersion)).toBeGreaterThanOrEqual(Number(rv));
  });

  it('reports objects entering a selector as ADDED and leaving it as DELETED', async () => {
    const cm = await h.core.createNamespacedConfigMap({ namespace: 'w', body: { metadata: { name: 'mover', labels: { stage: 'a' } } } });
    const w = await collect(h, '/api/v1/namespaces/w/configmaps', { resourceVersion: cm.metadata!.resourceVersion!, labelSelector: 'stage=b' });
    const moved = await h.core.replaceNamespacedConfigMap({ namespace: 'w', name: 'mover', body: { ...cm, metadata: { ...cm.metadata, labels: { stage: 'b' } } } });
    const touched = await h.core.replaceNamespacedConfigMap({ namespace: 'w', name: 'mover', body: { ...moved, data: { x: '1' } } });
    await h.core.replaceNamespacedConfigMap({ namespace: 'w', name: 'mover', body: { ...touched, metadata: { ...touched.metadata, labels: { stage: 'c' } } } });
    await eventually(() => (w.events.length >= 3 ? true : undefined), 'three selector events');
    w.stop();
    expect(w.events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
  });
});
