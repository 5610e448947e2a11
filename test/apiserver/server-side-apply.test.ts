import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlPath, machineKubectl, runKubectl } from '../support/kubectl.ts';
import { rawRequest, startHarness, statusOf, type Harness } from './harness.ts';

/**
 * Server-side apply against the embedded API server, driven by kubectl 1.20 (the project's) and
 * the machine's kubectl when installed, plus raw requests for the bodies kubectl never sends.
 */
const configMap = (data: Record<string, string>, labels: Record<string, string> = {}): string =>
  JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', labels }, data });

interface Entry {
  manager: string;
  operation: string;
  apiVersion: string;
  time?: string;
  fieldsType: string;
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

const managed = (obj: Record<string, unknown>): Entry[] => ((obj.metadata as Record<string, unknown>).managedFields ?? []) as Entry[];

describe('server-side apply', () => {
  let h: Harness;
  const cm = '/api/v1/namespaces/default/configmaps/settings';
  const apply = (body: string, query: string) => rawRequest(h, 'PATCH', `${cm}?${query}`, body, 'application/apply-patch+yaml');
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('creates the object when absent (201), owns exactly what was applied, and a repeated apply writes nothing', async () => {
    const created = await apply(configMap({ a: '1', b: '2' }, { app: 'x' }), 'fieldManager=alice');
    expect(created.code).toBe(201);
    const entries = managed(created.body);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      manager: 'alice',
      operation: 'Apply',
      apiVersion: 'v1',
      fieldsType: 'FieldsV1',
      fieldsV1: { 'f:data': { 'f:a': {}, 'f:b': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } },
    });
    expect(entries[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const again = await apply(configMap({ a: '1', b: '2' }, { app: 'x' }), 'fieldManager=alice');
    expect(again.code).toBe(200);
    expect((again.body.metadata as Record<string, unknown>).resourceVersion).toBe((created.body.metadata as Record<string, unknown>).resourceVersion);
  });

  it('answers a conflicting apply with 409 naming the fields and the manager, and force takes them over', async () => {
    const refused = await apply(configMap({ a: 'changed', b: 'other' }), 'fieldManager=bob');
    expect(refused.code).toBe(409);
    expect(refused.body).toMatchObject({
      kind: 'Status',
      status: 'Failure',
      reason: 'Conflict',
      message: 'Apply failed with 2 conflicts:\nconflicts with "alice"\n- .data.a\n- .data.b',
      details: {
        causes: [
          { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.data.a' },
          { reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.data.b' },
        ],
      },
      code: 409,
    });
    const forced = await apply(configMap({ a: 'changed' }), 'fieldManager=bob&force=true');
    expect(forced.code).toBe(200);
    expect(forced.body.data).toEqual({ a: 'changed', b: '2' });
    const byManager = Object.fromEntries(managed(forced.body).map((e) => [e.manager, e.fieldsV1]));
    expect(byManager).toEqual({
      alice: { 'f:data': { 'f:b': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } },
      bob: { 'f:data': { 'f:a': {} } },
    });
  });

  it('shares a field applied with the same value, and removes fields a manager stops applying that nobody else owns', async () => {
    const shared = await apply(configMap({ b: '2' }), 'fieldManager=carol');
    expect(shared.code).toBe(200);
    // alice drops b (carol still owns it: kept) and the label (only hers: removed).
    const dropped = await apply(configMap({}), 'fieldManager=alice');
    expect(dropped.code).toBe(200);
    expect(dropped.body.data).toEqual({ a: 'changed', b: '2' });
    expect((dropped.body.metadata as Record<string, unknown>).labels).toBeUndefined();
    expect(managed(dropped.body).map((e) => e.manager).sort()).toEqual(['bob', 'carol']);
  });

  it('records updates by fieldManager or the User-Agent product, status writes under the status subresource, and keeps managedFields a client omits', async () => {
    const res = await rawRequest(h, 'PUT', `${cm}?fieldManager=editor`, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { a: 'changed', b: '2', c: '3' } }), 'application/json');
    expect(res.code).toBe(200);
    const editor = managed(res.body).find((e) => e.manager === 'editor');
    expect(editor).toMatchObject({ operation: 'Update', apiVersion: 'v1', fieldsV1: { 'f:data': { 'f:c': {} } } });
    expect(managed(res.body).map((e) => e.manager).sort()).toEqual(['bob', 'carol', 'editor']);
    // An updater's field is a conflict for an applier, named with the updater's version.
    const clash = await apply(configMap({ c: 'mine' }), 'fieldManager=alice');
    expect(clash).toMatchObject({ code: 409, body: { message: 'Apply failed with 1 conflict: conflict with "editor" using v1: .data.c' } });
    // Clearing with [{}] strips them, as kube-apiserver does; [] keeps them.
    const kept = await rawRequest(h, 'PATCH', cm, JSON.stringify({ metadata: { managedFields: [] }, data: { d: '4' } }), 'application/merge-patch+json');
    expect(managed(kept.body).length).toBe(4);
    const reset = await rawRequest(h, 'PATCH', cm, JSON.stringify([{ op: 'replace', path: '/metadata/managedFields', value: [{}] }]), 'application/json-patch+json');
    expect(reset.code).toBe(200);
    expect((reset.body.metadata as Record<string, unknown>).managedFields).toBeUndefined();
  });

  it('keys list items by their merge keys and prints them in conflicts', async () => {
    const pod = (image: string) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web' }, spec: { containers: [{ name: 'app', image }] } });
    const url = '/api/v1/namespaces/default/pods/web';
    const first = await rawRequest(h, 'PATCH', `${url}?fieldManager=deployer`, pod('nginx:1'), 'application/apply-patch+yaml');
    expect(first.code).toBe(201);
    expect(managed(first.body)[0]!.fieldsV1).toEqual({ 'f:spec': { 'f:containers': { 'k:{"name":"app"}': { '.': {}, 'f:image': {}, 'f:name': {} } } } });
    const clash = await rawRequest(h, 'PATCH', `${url}?fieldManager=other`, pod('nginx:2'), 'application/apply-patch+yaml');
    expect(clash.code).toBe(409);
    expect(clash.body.message).toBe('Apply failed with 1 conflict: conflict with "deployer": .spec.containers[name="app"].image');
  });

  it('applies through client-node (fieldManager, force) and records a status write under the status subresource', async () => {
    const { setHeaderOptions, PatchStrategy } = await import('@kubernetes/client-node');
    const apply = setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply);
    const body = { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'disk' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
    const created = await h.core.patchNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'disk', body, fieldManager: 'node-client' }, apply);
    expect(created.spec?.resources?.requests).toEqual({ storage: '1Gi' });
    const grown = { ...body, spec: { ...body.spec, resources: { requests: { storage: '2Gi' } } } };
    const clash = await statusOf(h.core.patchNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'disk', body: grown, fieldManager: 'resizer' }, apply));
    expect(clash).toMatchObject({ code: 409, body: { reason: 'Conflict', message: 'Apply failed with 1 conflict: conflict with "node-client": .spec.resources.requests.storage' } });
    const forced = await h.core.patchNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'disk', body: grown, fieldManager: 'resizer', force: true }, apply);
    expect(forced.spec?.resources?.requests).toEqual({ storage: '2Gi' });

    const status = await rawRequest(h, 'PATCH', '/api/v1/namespaces/default/persistentvolumeclaims/disk/status?fieldManager=binder', JSON.stringify({ status: { phase: 'Bound' } }), 'application/merge-patch+json');
    expect(status.code).toBe(200);
    expect(managed(status.body).find((e) => e.manager === 'binder')).toMatchObject({ operation: 'Update', subresource: 'status', fieldsV1: { 'f:status': { 'f:phase': {} } } });
    // Without fieldManager an update is recorded under the User-Agent's product.
    const relabeled = await h.core.patchNamespacedPersistentVolumeClaim(
      { namespace: 'default', name: 'disk', body: { metadata: { labels: { tier: 'fast' } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    const byAgent = relabeled.metadata?.managedFields?.find((e) => e.operation === 'Update' && !e.subresource);
    expect(byAgent?.manager).not.toBe('');
    expect(byAgent?.fieldsV1).toEqual({ 'f:metadata': { 'f:labels': { '.': {}, 'f:tier': {} } } });
  });

  it('refuses bad apply requests with kube-apiserver Status answers and stores nothing', async () => {
    const missing = await rawRequest(h, 'PATCH', '/api/v1/namespaces/default/configmaps/nothing', configMap({}), 'application/apply-patch+yaml');
    expect(missing.code).toBe(422);
    expect(missing.body).toMatchObject({
      reason: 'Invalid',
      message: 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch',
      details: { group: 'meta.k8s.io', kind: 'PatchOptions', causes: [{ reason: 'FieldValueRequired', field: 'fieldManager' }] },
    });
    const notYaml = await rawRequest(h, 'PATCH', '/api/v1/namespaces/default/configmaps/nothing?fieldManager=x', '{"a": [1, 2', 'application/apply-patch+yaml');
    expect(notYaml.code).toBe(400);
    expect(notYaml.body.message).toMatch(/^error converting YAML to JSON: yaml: line 1: /);
    const wrongVersion = await rawRequest(h, 'PATCH', '/api/v1/namespaces/default/configmaps/nothing?fieldManager=x', 'apiVersion: v2\nkind: ConfigMap\n', 'application/apply-patch+yaml');
    expect(wrongVersion).toMatchObject({ code: 400, body: { message: 'Incorrect version specified in apply patch. Specified patch version: v2, expected: v1' } });
    const wrongKind = await rawRequest(h, 'PATCH', '/api/v1/namespaces/default/configmaps/nothing?fieldManager=x', 'apiVersion: v1\nkind: Secret\n', 'application/apply-patch+yaml');
    expect(wrongKind.code).toBe(400);
    const withManaged = await rawRequest(h, 'PATCH', '/api/v1/namespaces/default/configmaps/nothing?fieldManager=x', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  managedFields: []\n', 'application/apply-patch+yaml');
    expect(withManaged).toMatchObject({ code: 400, body: { message: 'metadata.managedFields must be nil' } });
    const forceOnMerge = await rawRequest(h, 'PATCH', `${cm}?force=true`, '{}', 'application/merge-patch+json');
    expect(forceOnMerge).toMatchObject({ code: 422, body: { message: 'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch' } });
    const none = await rawRequest(h, 'GET', '/api/v1/namespaces/default/configmaps/nothing', '', 'application/json');
    expect(none.code).toBe(404);
  });
});

const dvYaml = (tier: string): string => `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: fedora
  labels:
    tier: ${tier}
spec:
  source:
    http:
      url: https://example.com/disk.qcow2
  storage:
    resources:
      requests:
        storage: 1Gi
`;

const clients: Array<[string, () => Promise<string | undefined>]> = [
  ['kubectl 1.20 (project)', kubectlPath],
  ['the machine kubectl (/usr/bin/kubectl)', () => Promise.resolve(machineKubectl)],
];

describe.each(clients)('kubectl apply --server-side with %s', (_name, binary) => {
  let h: Harness;
  let bin: string | undefined;
  beforeAll(async () => {
    bin = await binary();
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('applies twice (the second unchanged), refuses a conflicting manager with the 409 text, and --force-conflicts wins', async (ctx) => {
    if (!bin) {
      ctx.skip(true, 'no kubectl at /usr/bin/kubectl on this machine');
      return;
    }
    const kc = h.server.kubeconfigPath;
    const file = path.join(h.dataDir, 'dv.yaml');
    await writeFile(file, dvYaml('gold'));
    const first = await runKubectl(bin, kc, undefined, 'apply', '--server-side', '-f', file);
    expect(first).toMatchObject({ code: 0, stdout: 'datavolume.cdi.kubevirt.io/fedora serverside-applied\n' });
    const rv1 = (await runKubectl(bin, kc, undefined, 'get', 'dv', 'fedora', '-o', 'jsonpath={.metadata.resourceVersion}')).stdout;
    const second = await runKubectl(bin, kc, undefined, 'apply', '--server-side', '-f', file);
    expect(second).toMatchObject({ code: 0, stdout: 'datavolume.cdi.kubevirt.io/fedora serverside-applied\n' });
    expect((await runKubectl(bin, kc, undefined, 'get', 'dv', 'fedora', '-o', 'jsonpath={.metadata.resourceVersion}')).stdout).toBe(rv1);

    await writeFile(file, dvYaml('silver'));
    const clash = await runKubectl(bin, kc, undefined, 'apply', '--server-side', '--field-manager=other', '-f', file);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toContain('Apply failed with 1 conflict: conflict with "kubectl": .metadata.labels.tier');
    const forced = await runKubectl(bin, kc, undefined, 'apply', '--server-side', '--field-manager=other', '--force-conflicts', '-f', file);
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    // kubectl 1.21+ hides managedFields in its output: read them directly.
    const got = (await rawRequest(h, 'GET', '/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/fedora', '', 'application/json')).body as { metadata: { labels: Record<string, string>; managedFields: Entry[] } };
    expect(got.metadata.labels).toEqual({ tier: 'silver' });
    const owners = Object.fromEntries(got.metadata.managedFields.map((e) => [e.manager, e.fieldsV1]));
    // The spec is the same in both configurations: shared; the label moved to the forcing manager.
    expect(owners.other).toEqual({ 'f:metadata': { 'f:labels': { 'f:tier': {} } }, 'f:spec': owners.kubectl!['f:spec'] });
    expect(owners.kubectl).not.toHaveProperty('f:metadata');
  });
});
