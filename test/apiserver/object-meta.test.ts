import { mkdtemp, rm } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/api/logger.ts';
import { curl, watchLines } from './curl.ts';
import { startHarness, type Harness } from './harness.ts';

/**
 * Poison writes: metadata the API cannot decode or validate is refused as kube-apiserver refuses
 * it (400 / 422) and never committed; a bad row already in the store never stops a start.
 */
const pods = '/api/v1/namespaces/default/pods';
const pod = (metadata: unknown) => JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'c', image: 'busybox' }] } });

describe('ObjectMeta validation on write', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.stop());

  const decodeCases: Array<[string, unknown, string]> = [
    ['ownerReferences a string', { name: 'p', ownerReferences: 'x' }, 'cannot unmarshal string into Go struct field ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference'],
    ['ownerReferences an object', { name: 'p', ownerReferences: { uid: 'u' } }, 'cannot unmarshal object into Go struct field ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference'],
    ['an owner reference a string', { name: 'p', ownerReferences: ['x'] }, 'cannot unmarshal string into Go struct field ObjectMeta.metadata.ownerReferences of type v1.OwnerReference'],
    ['an owner uid a number', { name: 'p', ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: 'o', uid: 5 }] }, 'cannot unmarshal number into Go struct field OwnerReference.metadata.ownerReferences.uid of type types.UID'],
    ['labels a list', { name: 'p', labels: ['a'] }, 'cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string'],
    ['a label value a number', { name: 'p', labels: { a: 1 } }, 'cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string'],
    ['annotations a string', { name: 'p', annotations: 'a=b' }, 'cannot unmarshal string into Go struct field ObjectMeta.metadata.annotations of type map[string]string'],
    ['finalizers a string', { name: 'p', finalizers: 'x' }, 'cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of type []string'],
    ['a finalizer an object', { name: 'p', finalizers: [{}] }, 'cannot unmarshal object into Go struct field ObjectMeta.metadata.finalizers of type string'],
    ['managedFields an object', { name: 'p', managedFields: {} }, 'cannot unmarshal object into Go struct field ObjectMeta.metadata.managedFields of type []v1.ManagedFieldsEntry'],
    ['name a number', { name: 5 }, 'cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string'],
    ['generation a fraction', { name: 'p', generation: 1.5 }, 'cannot unmarshal number 1.5 into Go struct field ObjectMeta.metadata.generation of type int64'],
    ['metadata a string', 'p', 'cannot unmarshal string into Go struct field Pod.metadata of type v1.ObjectMeta'],
  ];

  it.each(decodeCases)('answers 400 and stores nothing for %s', async (_what, metadata, detail) => {
    const reply = await curl(h.server, 'POST', pods, pod(metadata));
    expect(reply.code).toBe(400);
    expect(reply.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
    expect(reply.json().message).toBe(`Pod in version "v1" cannot be handled as a Pod: json: ${detail}`);
    expect((await curl(h.server, 'GET', `${pods}/p`)).code).toBe(404);
  });

  it('lets a watcher see none of the refused writes', async () => {
    const lines: string[] = [];
    const watch = await watchLines(h.server, `${pods}?watch=true`, (line) => lines.push(line));
    for (const [, metadata] of decodeCases) expect((await curl(h.server, 'POST', pods, pod(metadata))).code).toBe(400);
    expect((await curl(h.server, 'POST', pods, pod({ name: 'p', ownerReferences: [null] }))).code).toBe(422);
    expect((await curl(h.server, 'POST', pods, pod({ name: 'marker' }))).code).toBe(201);
    await expect.poll(() => lines.some((l) => l.includes('"name":"marker"')), { timeout: 5000 }).toBe(true);
    watch.close();
    expect(lines.filter((l) => l.startsWith('{"type"')).map((l) => (JSON.parse(l) as { object: { metadata: { name: string } } }).object.metadata.name)).toEqual(['marker']);
    expect((await curl(h.server, 'DELETE', `${pods}/marker`)).code).toBe(200);
  });

  it('answers 422 with field paths for [null] owner references and stores nothing', async () => {
    const reply = await curl(h.server, 'POST', pods, pod({ name: 'p', ownerReferences: [null] }));
    expect(reply.code).toBe(422);
    const status = reply.json();
    expect(status).toMatchObject({ reason: 'Invalid', code: 422, details: { name: 'p', kind: 'Pod' } });
    expect(status.message).toBe(
      'Pod "p" is invalid: [metadata.ownerReferences.apiVersion: Invalid value: "": version must not be empty, ' +
        'metadata.ownerReferences.kind: Invalid value: "": kind must not be empty, ' +
        'metadata.ownerReferences.name: Invalid value: "": name must not be empty, ' +
        'metadata.ownerReferences.uid: Invalid value: "": uid must not be empty]',
    );
    expect((await curl(h.server, 'GET', `${pods}/p`)).code).toBe(404);
  });

  it('refuses bad label keys and values, finalizer names and oversized annotations with kube-apiserver texts', async () => {
    const labels = await curl(h.server, 'POST', pods, pod({ name: 'p', labels: { 'bad key': 'ok', good: 'bad value' } }));
    expect(labels.code).toBe(422);
    expect(labels.json().message).toBe(
      'Pod "p" is invalid: [metadata.labels: Invalid value: "bad key": name part must consist of alphanumeric characters, \'-\', \'_\' or \'.\', ' +
        "and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'), " +
        'metadata.labels: Invalid value: "bad value": a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', ' +
        "and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]",
    );
    const finalizer = await curl(h.server, 'POST', pods, pod({ name: 'p', finalizers: ['a/b/c'] }));
    expect(finalizer.code).toBe(422);
    expect(finalizer.json().message).toContain('metadata.finalizers: Invalid value: "a/b/c": a qualified name must consist of');
    const big = await curl(h.server, 'POST', pods, pod({ name: 'p', annotations: { a: 'x'.repeat(256 * 1024) } }));
    expect(big.code).toBe(422);
    expect(big.json().message).toBe('Pod "p" is invalid: metadata.annotations: Too long: must have at most 262144 bytes');
    expect(big.json()).toMatchObject({ details: { causes: [{ reason: 'FieldValueTooLong', field: 'metadata.annotations' }] } });
    expect((await curl(h.server, 'GET', `${pods}/p`)).code).toBe(404);
  });

  it('checks metadata on update and every patch type too', async () => {
    expect((await curl(h.server, 'POST', pods, pod({ name: 'ok', labels: { a: 'b' } }))).code).toBe(201);
    const merge = await curl(h.server, 'PATCH', `${pods}/ok`, JSON.stringify({ metadata: { ownerReferences: 'x' } }), 'application/merge-patch+json');
    expect(merge.code).toBe(400);
    const json = await curl(h.server, 'PATCH', `${pods}/ok`, JSON.stringify([{ op: 'add', path: '/metadata/ownerReferences', value: [null] }]), 'application/json-patch+json');
    expect(json.code).toBe(422);
    const smp = await curl(h.server, 'PATCH', `${pods}/ok`, JSON.stringify({ metadata: { finalizers: 'x' } }), 'application/strategic-merge-patch+json');
    expect(smp.code).toBe(400);
    const current = (await curl(h.server, 'GET', `${pods}/ok`)).json() as { metadata: Record<string, unknown> };
    const put = await curl(h.server, 'PUT', `${pods}/ok`, JSON.stringify({ ...current, metadata: { ...current.metadata, labels: 'x' } }));
    expect(put.code).toBe(400);
    const after = (await curl(h.server, 'GET', `${pods}/ok`)).json() as { metadata: Record<string, unknown> };
    expect(after.metadata).toEqual(current.metadata);
  });
});

describe('a bad row in the store', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cdi-apiserver-badrow-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('is logged with a code and set aside; the server starts and serves everything else', async () => {
    const first = await startHarness({ dataDir });
    expect((await curl(first.server, 'POST', pods, pod({ name: 'good' }))).code).toBe(201);
    await first.stop();

    const db = new DatabaseSync(path.join(dataDir, 'apiserver.db'));
    const insert = db.prepare('INSERT INTO objects (resource, namespace, name, rv, json) VALUES (?, ?, ?, ?, ?)');
    const poison = (name: string, metadata: unknown) =>
      insert.run('/pods', 'default', name, 1, JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata, spec: {} }));
    poison('owners-string', { name: 'owners-string', namespace: 'default', uid: 'u1', ownerReferences: 'x' });
    poison('owners-object', { name: 'owners-object', namespace: 'default', uid: 'u2', ownerReferences: { uid: 'x' } });
    poison('owners-null', { name: 'owners-null', namespace: 'default', uid: 'u3', ownerReferences: [null] });
    insert.run('/pods', 'default', 'not-json', 1, '{"metadata":');
    db.close();

    const logged: Array<Record<string, unknown>> = [];
    const capture: Logger = {
      debug: () => {},
      info: () => {},
      warn: () => {},
      error: (obj, msg) => logged.push({ ...obj, msg }),
      child: () => capture,
    };
    const second = await startHarness({ dataDir, logger: capture });
    try {
      const codes = logged.filter((l) => l.code === 'CDI_ERR_STORED_OBJECT').map((l) => l.name);
      expect(codes.sort()).toEqual(['not-json', 'owners-null', 'owners-object', 'owners-string']);
      const messages = logged.map((l) => String(l.msg)).sort();
      expect(messages[0]).toMatch(/^stored object \/pods default\/not-json cannot be read and was set aside: not JSON: /);
      expect(messages[1]).toBe('stored object /pods default/owners-null cannot be read and was set aside: an owner reference without a uid');
      expect(messages[3]).toBe(
        'stored object /pods default/owners-string cannot be read and was set aside: Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into Go struct field ObjectMeta.metadata.ownerReferences of type []v1.OwnerReference',
      );
      const list = (await curl(second.server, 'GET', pods)).json() as { items: Array<{ metadata: { name: string } }> };
      expect(list.items.map((i) => i.metadata.name)).toEqual(['good']);
      expect((await curl(second.server, 'GET', `${pods}/owners-string`)).code).toBe(404);
      // The name is free again, and the garbage collector keeps working.
      expect((await curl(second.server, 'POST', pods, pod({ name: 'owners-string' }))).code).toBe(201);
    } finally {
      await second.stop();
    }
    const db2 = new DatabaseSync(path.join(dataDir, 'apiserver.db'));
    const kept = db2.prepare('SELECT name FROM set_aside ORDER BY name').all() as Array<{ name: string }>;
    db2.close();
    expect(kept.map((r) => r.name)).toEqual(['not-json', 'owners-null', 'owners-object', 'owners-string']);
  });
});
