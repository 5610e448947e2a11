import { describe, expect, it } from 'vitest';
import { applyPatch, jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';

describe('patches', () => {
  it('merge patch (RFC 7386): null deletes, objects merge, arrays replace', () => {
    expect(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1, 2] }, { a: null, b: { c: 4 }, l: [3] })).toEqual({ b: { c: 4, d: 3 }, l: [3] });
  });

  it('JSON patch (RFC 6902): add, remove, replace, move, copy, test', () => {
    const doc = { a: [1, 2], b: { c: 'x' } };
    expect(
      jsonPatch(doc, [
        { op: 'add', path: '/a/-', value: 3 },
        { op: 'replace', path: '/b/c', value: 'y' },
        { op: 'copy', from: '/b/c', path: '/d' },
        { op: 'move', from: '/a/0', path: '/e' },
        { op: 'remove', path: '/b' },
        { op: 'test', path: '/d', value: 'y' },
      ]),
    ).toEqual({ a: [2, 3], d: 'y', e: 1 });
    expect(doc).toEqual({ a: [1, 2], b: { c: 'x' } });
    expect(() => jsonPatch(doc, [{ op: 'test', path: '/b/c', value: 'z' }])).toThrow(/testing value/);
    expect(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }])).toThrow();
    expect(() => jsonPatch(doc, { op: 'add' })).toThrow(/array/);
  });

  it('strategic merge patch: lists merge by their key, directives are honoured', () => {
    const pod = { spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'A', value: '1' }] }, { name: 'b', image: 'y' }] }, metadata: { finalizers: ['f1', 'f2'] } };
    const patched = applyPatch('application/strategic-merge-patch+json', pod, {
      spec: { '$setElementOrder/containers': [{ name: 'a' }], containers: [{ name: 'a', env: [{ name: 'B', value: '2' }] }, { name: 'b', $patch: 'delete' }] },
      metadata: { '$deleteFromPrimitiveList/finalizers': ['f1'] },
    });
    expect(patched).toEqual({
      spec: { containers: [{ name: 'a', image: 'x', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }] },
      metadata: { finalizers: ['f2'] },
    });
    expect(strategicMergePatch({ data: { a: '1', b: '2' } }, { data: { a: null } })).toEqual({ data: { b: '2' } });
    expect(strategicMergePatch({ ports: [{ port: 80, name: 'http' }] }, { ports: [{ port: 443 }] })).toEqual({ ports: [{ port: 80, name: 'http' }, { port: 443 }] });
    expect(strategicMergePatch({ args: ['a', 'b'] }, { args: ['c'] })).toEqual({ args: ['c'] });
  });

  it('refuses unknown patch media types with 415', () => {
    expect(() => applyPatch('text/plain', {}, {})).toThrow(expect.objectContaining({ code: 415 }));
    expect(applyPatch('application/merge-patch+json; charset=utf-8', { a: 1 }, { b: 2 })).toEqual({ a: 1, b: 2 });
  });

  it('JSON patch: copies and moves never nest the document past the body depth limit', () => {
    let nested: unknown = [];
    for (let i = 1; i < 900; i++) nested = [nested];
    let leaf = '/x';
    for (let i = 0; i < 899; i++) leaf += '/0';
    const doc = jsonPatch({}, [{ op: 'add', path: '/x', value: nested }] as never);
    for (const op of ['copy', 'move']) {
      let err: unknown;
      try {
        jsonPatch(doc, [{ op, from: '/x', path: `${leaf}/-` }] as never);
      } catch (e) {
        err = e;
      }
      expect(err).toMatchObject({ code: 422, details: { causes: [{ message: "invalid character '{' exceeded max depth" }] } });
    }
  });
});
