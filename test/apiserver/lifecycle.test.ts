import { rm } from 'node:fs/promises';
import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dataVolume, dvGroup, eventually, startHarness, statusOf, type Harness } from './harness.ts';

type Meta = { metadata?: { uid?: string; deletionTimestamp?: string | Date; finalizers?: string[] } };

function ownedBy(owner: { kind: string; apiVersion: string; name: string; uid: string }, blockOwnerDeletion = true) {
  return [{ ...owner, controller: true, blockOwnerDeletion }];
}

async function exists(p: Promise<unknown>): Promise<boolean> {
  return p.then(
    () => true,
    (err: { code?: number }) => {
      if (err.code === 404) return false;
      throw err;
    },
  );
}

/** A raw HTTPS request to the server, to send what client libraries refuse to. */
function raw(h: Harness, method: string, path: string, body?: unknown, token: string | null = h.server.token) {
  return new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
    const req = https.request(
      `${h.server.url}${path}`,
      { method, ca: h.server.caPem, headers: { 'content-type': 'application/json', ...(token !== null ? { authorization: `Bearer ${token}` } : {}) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {} }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

describe('apiserver lifecycle: finalizers, cascading deletion, bad requests', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.core.createNamespace({ body: { metadata: { name: 'gc' } } });
  });
  afterAll(async () => {
    await h?.stop();
    // The restart test hands the data dir to a second harness, which does not own it.
    if (h) await rm(h.dataDir, { recursive: true, force: true });
  });

  it('defaults the status of new claims and pods to Pending', async () => {
    const pvc = await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'gc', body: { metadata: { name: 'fresh' }, spec: {}, status: { phase: 'Bound' } } });
    expect(pvc.status?.phase).toBe('Pending');
    const pod = await h.core.createNamespacedPod({ namespace: 'gc', body: { metadata: { name: 'fresh' }, spec: { containers: [] } } });
    expect(pod.status?.phase).toBe('Pending');
  });

  it('keeps an object with finalizers until the last one is removed', async () => {
    await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'fin', finalizers: ['example.com/a', 'example.com/b'] } } });
    await h.core.deleteNamespacedConfigMap({ namespace: 'gc', name: 'fin' });
    const terminating = await h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'fin' });
    expect(terminating.metadata?.deletionTimestamp).toBeDefined();
    await h.core.replaceNamespacedConfigMap({ namespace: 'gc', name: 'fin', body: { ...terminating, metadata: { ...terminating.metadata, finalizers: ['example.com/b'] } } });
    expect(await exists(h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'fin' }))).toBe(true);
    const again = await h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'fin' });
    await h.core.replaceNamespacedConfigMap({ namespace: 'gc', name: 'fin', body: { ...again, metadata: { ...again.metadata, finalizers: [] } } });
    expect(await exists(h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'fin' }))).toBe(false);
  });

  it('deletes dependents in the background after the owner is gone', async () => {
    const dv = (await h.custom.createNamespacedCustomObject({ ...dvGroup, namespace: 'gc', body: dataVolume('bg') })) as Meta;
    const owner = { kind: 'DataVolume', apiVersion: 'cdi.kubevirt.io/v1beta1', name: 'bg', uid: dv.metadata!.uid! };
    const pvc = await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'gc', body: { metadata: { name: 'bg', ownerReferences: ownedBy(owner) }, spec: {} } });
    await h.core.createNamespacedPod({
      namespace: 'gc',
      body: { metadata: { name: 'importer-bg', ownerReferences: ownedBy({ kind: 'PersistentVolumeClaim', apiVersion: 'v1', name: 'bg', uid: pvc.metadata!.uid! }) }, spec: { containers: [] } },
    });
    await h.custom.deleteNamespacedCustomObject({ ...dvGroup, namespace: 'gc', name: 'bg', propagationPolicy: 'Background' });
    expect(await exists(h.custom.getNamespacedCustomObject({ ...dvGroup, namespace: 'gc', name: 'bg' }))).toBe(false);
    await eventually(async () => ((await exists(h.core.readNamespacedPod({ namespace: 'gc', name: 'importer-bg' }))) ? undefined : true), 'the grandchild pod to be collected');
    expect(await exists(h.core.readNamespacedPersistentVolumeClaim({ namespace: 'gc', name: 'bg' }))).toBe(false);
  });

  it('deletes dependents first in the foreground, then the owner', async () => {
    const dv = (await h.custom.createNamespacedCustomObject({ ...dvGroup, namespace: 'gc', body: dataVolume('fg') })) as Meta;
    const owner = { kind: 'DataVolume', apiVersion: 'cdi.kubevirt.io/v1beta1', name: 'fg', uid: dv.metadata!.uid! };
    await h.core.createNamespacedPersistentVolumeClaim({
      namespace: 'gc',
      body: { metadata: { name: 'fg', ownerReferences: ownedBy(owner), finalizers: ['kubernetes.io/pvc-protection'] }, spec: {} },
    });
    await h.custom.deleteNamespacedCustomObject({ ...dvGroup, namespace: 'gc', name: 'fg', propagationPolicy: 'Foreground' });
    // The owner waits (foregroundDeletion) while its dependent is held by its own finalizer.
    const waiting = (await h.custom.getNamespacedCustomObject({ ...dvGroup, namespace: 'gc', name: 'fg' })) as Meta;
    expect(waiting.metadata?.finalizers).toContain('foregroundDeletion');
    const pvc = await eventually(async () => {
      const p = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'gc', name: 'fg' });
      return p.metadata?.deletionTimestamp ? p : undefined;
    }, 'the dependent to be deleting');
    expect(await exists(h.custom.getNamespacedCustomObject({ ...dvGroup, namespace: 'gc', name: 'fg' }))).toBe(true);
    await h.core.replaceNamespacedPersistentVolumeClaim({ namespace: 'gc', name: 'fg', body: { ...pvc, metadata: { ...pvc.metadata, finalizers: [] } } });
    await eventually(async () => ((await exists(h.custom.getNamespacedCustomObject({ ...dvGroup, namespace: 'gc', name: 'fg' }))) ? undefined : true), 'the owner to go');
  });

  it('orphans dependents when asked', async () => {
    const owner = await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'orphan-owner' } } });
    await h.core.createNamespacedSecret({
      namespace: 'gc',
      body: { metadata: { name: 'orphan-dep', ownerReferences: ownedBy({ kind: 'ConfigMap', apiVersion: 'v1', name: 'orphan-owner', uid: owner.metadata!.uid! }) } },
    });
    await h.core.deleteNamespacedConfigMap({ namespace: 'gc', name: 'orphan-owner', propagationPolicy: 'Orphan' });
    await eventually(async () => ((await exists(h.core.readNamespacedConfigMap({ namespace: 'gc', name: 'orphan-owner' }))) ? undefined : true), 'owner removal');
    const dep = await h.core.readNamespacedSecret({ namespace: 'gc', name: 'orphan-dep' });
    expect(dep.metadata?.ownerReferences ?? []).toEqual([]);
  });

  it('empties and removes a deleted namespace', async () => {
    await h.core.createNamespace({ body: { metadata: { name: 'doomed' } } });
    await h.core.createNamespacedConfigMap({ namespace: 'doomed', body: { metadata: { name: 'x' } } });
    await h.core.deleteNamespace({ name: 'doomed' });
    await eventually(async () => ((await exists(h.core.readNamespace({ name: 'doomed' }))) ? undefined : true), 'namespace removal');
    expect((await h.core.listNamespacedConfigMap({ namespace: 'doomed' })).items).toEqual([]);
    expect((await statusOf(h.core.deleteNamespace({ name: 'default' }))).code).toBe(403);
  });

  it('answers 401 without a token, 404 for unknown kinds, 422 for invalid objects with CDI messages', async () => {
    expect((await raw(h, 'GET', '/api/v1/namespaces', undefined, null)).status).toBe(401);
    expect((await raw(h, 'GET', '/api/v1/namespaces', undefined, 'wrong')).status).toBe(401);
    expect((await raw(h, 'GET', '/healthz', undefined, null)).status).toBe(200);
    const unknown = await raw(h, 'GET', '/apis/cdi.kubevirt.io/v1beta1/namespaces/default/widgets');
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    expect((await raw(h, 'GET', '/apis/nope.example.com/v1')).status).toBe(404);

    const body = dataVolume('bad');
    (body.spec as Record<string, unknown>).source = {};
    const invalid = await statusOf(h.custom.createNamespacedCustomObject({ ...dvGroup, namespace: 'default', body }));
    expect(invalid.code).toBe(422);
    expect(invalid.body.message).toBe('admission webhook "datavolume-validate.cdi.kubevirt.io" denied the request:  Missing Data volume source');
    const badName = await statusOf(h.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'Not_Valid' } } }));
    expect(badName.code).toBe(422);
    expect(badName.body.reason).toBe('Invalid');
    const noNs = await statusOf(h.core.createNamespacedConfigMap({ namespace: 'missing', body: { metadata: { name: 'x' } } }));
    expect(noNs.code).toBe(404);
    const wrongKind = await raw(h, 'POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' } });
    expect(wrongKind.status).toBe(400);
    const patchMissing = await raw(h, 'PATCH', '/api/v1/namespaces/default/configmaps/x', { a: 1 });
    expect(patchMissing.status).toBe(404);
  });

  it('expires events after the event TTL', async () => {
    const short = await startHarness({ eventTtlSeconds: 1 });
    try {
      const ev = await short.core.createNamespacedEvent({
        namespace: 'default',
        body: { metadata: { name: 'dv.1' }, involvedObject: { kind: 'DataVolume', name: 'dv' }, reason: 'ImportScheduled', message: 'Import into dv scheduled', type: 'Normal' },
      });
      expect(ev.metadata?.name).toBe('dv.1');
      await eventually(async () => ((await exists(short.core.readNamespacedEvent({ namespace: 'default', name: 'dv.1' }))) ? undefined : true), 'event expiry', 10_000);
    } finally {
      await short.stop();
    }
  });

  it('deletes collections by selector', async () => {
    for (const n of ['k1', 'k2', 'k3']) await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: n, labels: { sweep: n === 'k3' ? 'no' : 'yes' } } } });
    await h.core.deleteCollectionNamespacedConfigMap({ namespace: 'gc', labelSelector: 'sweep=yes' });
    const left = await h.core.listNamespacedConfigMap({ namespace: 'gc', labelSelector: 'sweep' });
    expect(left.items.map((i) => i.metadata?.name)).toEqual(['k3']);
  });

  it('refuses a second server on a data dir in use', async () => {
    await expect(startHarness({ dataDir: h.dataDir })).rejects.toMatchObject({ code: 'CDI_ERR_DATA_DIR_IN_USE' });
  });

  it('restarts on the same data dir with the same credentials and objects', async () => {
    await h.core.createNamespacedConfigMap({ namespace: 'gc', body: { metadata: { name: 'persisted' }, data: { k: 'v' } } });
    const { url, token, caPem } = h.server;
    await h.server.close();
    const again = await startHarness({ dataDir: h.dataDir, port: Number(new URL(url).port) });
    try {
      expect(again.server.token).toBe(token);
      expect(again.server.caPem).toBe(caPem);
      expect((await again.core.readNamespacedConfigMap({ namespace: 'gc', name: 'persisted' })).data).toEqual({ k: 'v' });
      const dv = await again.custom.createNamespacedCustomObject({ ...dvGroup, namespace: 'gc', body: dataVolume('after-restart') });
      expect(dv).toBeDefined();
    } finally {
      h = again;
    }
  });
});
