import { mkdtemp } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { KubernetesObject } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/api/logger.ts';
import { silentLogger } from '../../src/api/logger.ts';
import { startApiServer } from '../../src/apiserver/index.ts';
import { guardHandlers, makeCaches, type Cache } from '../../src/controller/informers.ts';
import { Kube } from '../../src/controller/kube.ts';
import { bindClaim, createDv, eventually, setPodStatus, startHarness, waitPhase, type Harness } from './harness.ts';

/**
 * Malformed objects already in the store (written before write-time schemas, or straight into
 * the database) never stop the controller: lists do not choke on them and a handler that throws
 * on one is logged and skipped.
 */
function capture(): { logger: Logger; errors: Array<Record<string, unknown>> } {
  const errors: Array<Record<string, unknown>> = [];
  const logger: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: (o) => errors.push(o as Record<string, unknown>), child: () => logger };
  return { logger, errors };
}

const malformedPod = (name: string, spec: unknown) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', uid: `uid-${name}`, resourceVersion: '2' }, spec, status: { phase: 'Running' } });

describe('the controller with malformed pods in the store', () => {
  let h: Harness;
  beforeAll(async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'cdi-controller-malformed-'));
    const api = await startApiServer({ dataDir, logger: silentLogger });
    await api.close();
    const db = new DatabaseSync(path.join(dataDir, 'apiserver.db'));
    const insert = db.prepare('INSERT INTO objects (resource, namespace, name, rv, json) VALUES (?, ?, ?, ?, ?)');
    insert.run('/pods', 'default', 'volumes-object', 2, malformedPod('volumes-object', { containers: [{ name: 'c', image: 'x' }], volumes: { a: 1 } }));
    insert.run('/pods', 'default', 'containers-null', 2, malformedPod('containers-null', { containers: [null] }));
    insert.run('/pods', 'default', 'containers-object', 2, malformedPod('containers-object', { containers: {} }));
    db.close();
    h = await startHarness({}, dataDir);
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('starts, and a new DataVolume goes through ImportScheduled to ImportInProgress', async () => {
    await createDv(h, { metadata: { name: 'after-malformed' }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '64Mi' } } } } });
    await bindClaim(h, 'after-malformed');
    await waitPhase(h, 'after-malformed', 'ImportScheduled');
    await setPodStatus(h, 'importer-after-malformed', 'Running', { state: { running: {} } });
    await waitPhase(h, 'after-malformed', 'ImportInProgress');
  });
});

describe('informer handlers', () => {
  let h: Harness;
  let pods: Cache<KubernetesObject>;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await pods?.stop();
    await h?.stop();
  });

  it('log a handler that throws with a code and keep delivering, on list and on watch', async () => {
    const { logger, errors } = capture();
    await h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'listed' }, spec: { containers: [{ name: 'c', image: 'x' }] } } });
    pods = makeCaches(new Kube(h.kc)).pods as unknown as Cache<KubernetesObject>;
    guardHandlers('pods', pods, logger);
    const seen: string[] = [];
    pods.on('add', (pod) => {
      throw new TypeError(`Cannot read properties of null (reading 'env') in ${pod.metadata?.name}`);
    });
    pods.on('add', (pod) => seen.push(pod.metadata!.name!));
    await pods.start();
    await h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'watched' }, spec: { containers: [{ name: 'c', image: 'x' }] } } });
    await eventually(async () => (seen.includes('watched') ? true : undefined), 'the watched pod delivered');
    expect(seen).toEqual(expect.arrayContaining(['listed', 'watched']));
    const logged = errors.filter((e) => e.code === 'CDI_ERR_EVENT_HANDLER').map((e) => String((e.err as Error).message));
    expect(logged).toEqual(expect.arrayContaining([expect.stringContaining('add of pods default/listed'), expect.stringContaining('add of pods default/watched')]));
  });
});
