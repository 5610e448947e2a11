import { describe, expect, it } from 'vitest';
import { WatchHub, type ChangeEvent } from './watch-hub.ts';

const ev = (rv: number, resource = '/configmaps', json = '{}'): ChangeEvent => ({ type: 'ADDED', rv, resource, namespace: 'ns', name: `n${rv}`, json });

describe('WatchHub', () => {
  it('replays a resource after a resourceVersion and expires what was compacted', () => {
    const hub = new WatchHub(10, 3);
    for (let rv = 11; rv <= 16; rv++) hub.publish(ev(rv, rv % 2 ? '/configmaps' : '/secrets'));
    expect(hub.since(10, '/configmaps')?.map((e) => e.rv)).toEqual([11, 13, 15]);
    expect(hub.since(13, '/configmaps')?.map((e) => e.rv)).toEqual([15]);
    hub.publish(ev(17));
    expect(hub.oldestRv).toBe(14);
    expect(hub.since(13, '/configmaps')).toBeUndefined();
    expect(hub.since(14, '/configmaps')?.map((e) => e.rv)).toEqual([15, 17]);
  });

  it('bounds the window by bytes as well as by count', () => {
    const hub = new WatchHub(0, 1000, 100);
    for (let rv = 1; rv <= 5; rv++) hub.publish(ev(rv, '/configmaps', 'x'.repeat(60)));
    expect(hub.oldestRv).toBeGreaterThan(0);
    expect(hub.since(hub.oldestRv, '/configmaps')!.length).toBeLessThanOrEqual(3);
  });

  it('delivers live events to subscribers until they unsubscribe', () => {
    const hub = new WatchHub(0, 10);
    const seen: number[] = [];
    const off = hub.subscribe((e) => seen.push(e.rv));
    hub.publish(ev(1));
    off();
    hub.publish(ev(2));
    expect(seen).toEqual([1]);
  });

  it('logs a listener that throws with a code and still delivers to every other listener', () => {
    const logged: Array<Record<string, unknown>> = [];
    const log = { debug: () => {}, info: () => {}, warn: () => {}, error: (o: object) => logged.push(o as Record<string, unknown>), child: () => log };
    const hub = new WatchHub(0, 10, undefined, log);
    const seen: number[] = [];
    hub.subscribe(() => {
      throw new TypeError('ownerReferences.map is not a function');
    });
    hub.subscribe((e) => seen.push(e.rv));
    expect(() => hub.publish(ev(1))).not.toThrow();
    expect(seen).toEqual([1]);
    expect(logged).toMatchObject([{ code: 'CDI_ERR_EVENT_HANDLER' }]);
    expect(hub.since(0, '/configmaps')?.map((e) => e.rv)).toEqual([1]);
  });
});
