import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyUploadToken } from '../../src/api/upload-token.ts';
import { dataVolume, dvGroup, startHarness, statusOf, type Harness } from './harness.ts';

type Obj = { metadata: Record<string, unknown> & { name: string; resourceVersion: string }; spec?: unknown; status?: unknown };

describe('apiserver with client-node: CRUD and semantics', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });
  const ns = 'default';

  it('creates, gets, updates (generation on spec only) and deletes a DataVolume', async () => {
    const created = (await h.custom.createNamespacedCustomObject({ ...dvGroup, namespace: ns, body: dataVolume('crud-a') })) as Obj;
    expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(created.metadata.generation).toBe(1);
    const got = (await h.custom.getNamespacedCustomObject({ ...dvGroup, namespace: ns, name: 'crud-a' })) as Obj;
    expect(got).toEqual(created);

    // A status write ignores spec and keeps generation; a metadata-only update keeps it too.
    const withStatus = (await h.custom.replaceNamespacedCustomObjectStatus({
      ...dvGroup,
      namespace: ns,
      name: 'crud-a',
      body: { ...got, spec: { changed: true }, status: { phase: 'ImportScheduled' } },
    })) as Obj;
    expect(withStatus.status).toEqual({ phase: 'ImportScheduled' });
    expect(withStatus.spec).toEqual(got.spec);
    expect(withStatus.metadata.generation).toBe(1);
    expect(Number(withStatus.metadata.resourceVersion)).toBeGreaterThan(Number(got.metadata.resourceVersion));
    const relabeled = (await h.custom.replaceNamespacedCustomObject({
      ...dvGroup,
      namespace: ns,
      name: 'crud-a',
      body: { ...withStatus, metadata: { ...withStatus.metadata, labels: { a: 'b' } }, status: { phase: 'Ignored' } },
    })) as Obj;
    expect(relabeled.metadata.labels).toEqual({ a: 'b' });
    expect(relabeled.status).toEqual({ phase: 'ImportScheduled' });
    expect(relabeled.metadata.generation).toBe(1);

    // Built-in kinds without a generation-counted spec (ConfigMap) have none, as on kube-apiserver; a no-op update writes nothing.
    const cm = await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'gen', generation: 7 }, data: { a: '1' } } });
    expect(cm.metadata?.generation).toBeUndefined();
    const cm2 = await h.core.replaceNamespacedConfigMap({ namespace: ns, name: 'gen', body: { ...cm, data: { a: '2' } } });
    expect(cm2.metadata?.generation).toBeUndefined();
    const cm3 = await h.core.replaceNamespacedConfigMap({ namespace: ns, name: 'gen', body: cm2 });
    expect(cm3.metadata?.resourceVersion).toBe(cm2.metadata?.resourceVersion);

    await h.custom.deleteNamespacedCustomObject({ ...dvGroup, namespace: ns, name: 'crud-a' });
    const gone = await statusOf(h.custom.getNamespacedCustomObject({ ...dvGroup, namespace: ns, name: 'crud-a' }));
    expect(gone.code).toBe(404);
    expect(gone.body).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'datavolumes.cdi.kubevirt.io "crud-a" not found' });
  });

  it('answers AlreadyExists, Conflict on a stale resourceVersion, and generateName', async () => {
    const cm = await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'dup' }, data: { v: '1' } } });
    const dup = await statusOf(h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'dup' } } }));
    expect(dup.code).toBe(409);
    expect(dup.body.reason).toBe('AlreadyExists');
    await h.core.replaceNamespacedConfigMap({ namespace: ns, name: 'dup', body: { ...cm, data: { v: '2' } } });
    const stale = await statusOf(h.core.replaceNamespacedConfigMap({ namespace: ns, name: 'dup', body: { ...cm, data: { v: '3' } } }));
    expect(stale.code).toBe(409);
    expect(stale.body.reason).toBe('Conflict');
    const current = await h.core.readNamespacedConfigMap({ namespace: ns, name: 'dup' });
    expect(current.data).toEqual({ v: '2' });

    const generated = await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { generateName: 'gen-' } } });
    expect(generated.metadata?.name).toMatch(/^gen-[a-z0-9]{5}$/);
    expect(generated.metadata?.generateName).toBe('gen-');
  });

  it('patches with merge, JSON and strategic merge patches', async () => {
    await h.core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'p1', labels: { a: '1' } }, spec: { containers: [{ name: 'c', image: 'x', env: [{ name: 'A', value: '1' }] }] } },
    });
    const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
    const merged = await h.core.patchNamespacedPod(
      { namespace: ns, name: 'p1', body: { metadata: { labels: { a: null, b: '2' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(merged.metadata?.labels).toEqual({ b: '2' });
    const jsonPatched = await h.core.patchNamespacedPod(
      { namespace: ns, name: 'p1', body: [{ op: 'add', path: '/metadata/annotations', value: { x: 'y' } }] },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
    expect(jsonPatched.metadata?.annotations).toEqual({ x: 'y' });
    const strategic = await h.core.patchNamespacedPod(
      { namespace: ns, name: 'p1', body: { spec: { containers: [{ name: 'c', env: [{ name: 'B', value: '2' }] }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(strategic.spec?.containers[0]?.env).toEqual([
      { name: 'A', value: '1' },
      { name: 'B', value: '2' },
    ]);
    expect(strategic.spec?.containers[0]?.image).toBe('x');
    const status = await h.core.patchNamespacedPodStatus(
      { namespace: ns, name: 'p1', body: { status: { phase: 'Running' }, spec: { containers: [] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(status.status?.phase).toBe('Running');
    expect(status.spec?.containers).toHaveLength(1);
  });

  it('filters lists by label and field selectors and pages with limit/continue', async () => {
    await h.core.createNamespace({ body: { metadata: { name: 'sel' } } });
    for (let i = 0; i < 7; i++) {
      await h.core.createNamespacedConfigMap({ namespace: 'sel', body: { metadata: { name: `cm-${i}`, labels: { parity: i % 2 ? 'odd' : 'even', n: String(i) } } } });
    }
    const names = (l: { items: Array<{ metadata?: { name?: string } }> }) => l.items.map((i) => i.metadata?.name);
    expect(names(await h.core.listNamespacedConfigMap({ namespace: 'sel', labelSelector: 'parity=odd' }))).toEqual(['cm-1', 'cm-3', 'cm-5']);
    expect(names(await h.core.listNamespacedConfigMap({ namespace: 'sel', labelSelector: 'parity!=odd,n notin (0,2)' }))).toEqual(['cm-4', 'cm-6']);
    expect(names(await h.core.listNamespacedConfigMap({ namespace: 'sel', labelSelector: 'n in (1,2),parity' }))).toEqual(['cm-1', 'cm-2']);
    expect(names(await h.core.listNamespacedConfigMap({ namespace: 'sel', fieldSelector: 'metadata.name=cm-3' }))).toEqual(['cm-3']);
    expect(names(await h.core.listConfigMapForAllNamespaces({ fieldSelector: 'metadata.namespace=sel,metadata.name!=cm-0' }))).toHaveLength(6);

    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await h.core.listNamespacedConfigMap({ namespace: 'sel', limit: 3, ...(token ? { _continue: token } : {}) });
      seen.push(...(names(page) as string[]));
      token = page.metadata?._continue;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(['cm-0', 'cm-1', 'cm-2', 'cm-3', 'cm-4', 'cm-5', 'cm-6']);
    const bad = await statusOf(h.core.listNamespacedConfigMap({ namespace: 'sel', labelSelector: 'a in b' }));
    expect(bad.code).toBe(400);
  });

  it('writes nothing for dryRun=All', async () => {
    const dry = (await h.custom.createNamespacedCustomObject({ ...dvGroup, namespace: ns, body: dataVolume('dry'), dryRun: 'All' })) as Obj;
    expect(dry.metadata.name).toBe('dry');
    expect((await statusOf(h.custom.getNamespacedCustomObject({ ...dvGroup, namespace: ns, name: 'dry' }))).code).toBe(404);
    const cm = await h.core.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: 'dry' }, data: { a: '1' } } });
    const changed = await h.core.replaceNamespacedConfigMap({ namespace: ns, name: 'dry', body: { ...cm, data: { a: '2' } }, dryRun: 'All' });
    expect(changed.data).toEqual({ a: '2' });
    await h.core.deleteNamespacedConfigMap({ namespace: ns, name: 'dry', dryRun: 'All' });
    const kept = await h.core.readNamespacedConfigMap({ namespace: ns, name: 'dry' });
    expect(kept.data).toEqual({ a: '1' });
    expect(kept.metadata?.resourceVersion).toBe(cm.metadata?.resourceVersion);
  });

  it('issues upload tokens signed with the server key, for the request namespace', async () => {
    const res = (await h.custom.createNamespacedCustomObject({
      group: 'upload.cdi.kubevirt.io',
      version: 'v1beta1',
      plural: 'uploadtokenrequests',
      namespace: ns,
      body: { apiVersion: 'upload.cdi.kubevirt.io/v1beta1', kind: 'UploadTokenRequest', metadata: { name: 'disk' }, spec: { pvcName: 'disk' } },
    })) as { status: { token: string } };
    const claims = await verifyUploadToken(h.server.uploadSigningKey.publicPem, res.status.token);
    expect(claims).toEqual({ name: 'disk', namespace: ns });
    const [, payload] = res.status.token.split('.');
    const decoded = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    expect(decoded).toMatchObject({ iss: 'cdi-apiserver', operation: 'Upload', resource: { group: '', version: 'v1', resource: 'persistentvolumeclaims' } });
    expect((decoded.exp as number) - (decoded.iat as number)).toBe(300);
    const list = await statusOf(h.custom.listNamespacedCustomObject({ group: 'upload.cdi.kubevirt.io', version: 'v1beta1', plural: 'uploadtokenrequests', namespace: ns }));
    expect(list.code).toBe(405);
  });

  it('seeds the default namespace, the default StorageClass and the CDIConfig', async () => {
    const { StorageV1Api } = await import('@kubernetes/client-node');
    const sc = await h.kc.makeApiClient(StorageV1Api).readStorageClass({ name: 'local' });
    expect(sc.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class']).toBe('true');
    expect((await h.core.readNamespace({ name: 'default' })).status?.phase).toBe('Active');
    const config = (await h.custom.getClusterCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'cdiconfigs', name: 'config' })) as Obj;
    expect(config.metadata.name).toBe('config');
  });
});
