import { describe, expect, it } from 'vitest';
import { arr, map, obj, str } from '../api/schema.ts';
import { FieldSet, pathString } from './field-set.ts';
import { compare, merge, removeItems, toFieldSet } from './field-walk.ts';
import { managerFromUserAgent } from './managed-fields.ts';

const Port = obj({ name: str(), port: str(), protocol: str() });
const schema = obj({
  spec: obj({
    ports: arr(Port, { listType: 'map', keys: ['port', 'protocol'] }),
    finalizers: arr(str(), { listType: 'set' }),
    args: arr(str()),
    selector: map(str()),
    image: str(),
  }),
});

describe('field sets in FieldsV1', () => {
  it('round-trips members that are also parents with "." and orders fields, keys, values and indexes', () => {
    const json = { 'f:spec': { 'f:ports': { 'k:{"port":"80","protocol":"TCP"}': { '.': {}, 'f:name': {} } }, 'f:finalizers': { 'v:"a"': {} }, 'f:image': {} } };
    const set = FieldSet.fromFieldsV1(json);
    expect(set.toFieldsV1()).toEqual(json);
    expect(Object.keys(set.toFieldsV1()['f:spec']!)).toEqual(['f:finalizers', 'f:image', 'f:ports']);
    expect(set.paths().map(pathString)).toEqual(['.spec.finalizers[="a"]', '.spec.image', '.spec.ports[port="80",protocol="TCP"]', '.spec.ports[port="80",protocol="TCP"].name']);
  });

  it('unions, subtracts and intersects tries', () => {
    const a = FieldSet.fromFieldsV1({ 'f:a': {}, 'f:b': { 'f:c': {} } });
    const b = FieldSet.fromFieldsV1({ 'f:b': { 'f:c': {}, 'f:d': {} } });
    expect(a.union(b).toFieldsV1()).toEqual({ 'f:a': {}, 'f:b': { 'f:c': {}, 'f:d': {} } });
    expect(a.difference(b).toFieldsV1()).toEqual({ 'f:a': {} });
    expect(a.intersection(b).toFieldsV1()).toEqual({ 'f:b': { 'f:c': {} } });
  });
});

describe('values through their schema', () => {
  const live = { spec: { ports: [{ port: '80', protocol: 'TCP', name: 'http' }], finalizers: ['a'], args: ['x', 'y'], selector: { app: 'web' }, image: 'one' } };

  it('owns leaves, keyed items and set values; atomic lists and granular maps as the schema says', () => {
    expect(toFieldSet(live, schema).toFieldsV1()).toEqual({
      'f:spec': {
        'f:args': {},
        'f:finalizers': { 'v:"a"': {} },
        'f:image': {},
        'f:ports': { 'k:{"port":"80","protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {}, 'f:protocol': {} } },
        'f:selector': { 'f:app': {} },
      },
    });
  });

  it('merges keyed lists by key, sets by value and replaces atomic lists', () => {
    const config = { spec: { ports: [{ port: '443', protocol: 'TCP' }, { port: '80', protocol: 'TCP', name: 'web' }], finalizers: ['b'], args: ['z'] } };
    expect(merge(live, config, schema)).toEqual({
      spec: {
        ports: [
          { port: '80', protocol: 'TCP', name: 'web' },
          { port: '443', protocol: 'TCP' },
        ],
        finalizers: ['a', 'b'],
        args: ['z'],
        selector: { app: 'web' },
        image: 'one',
      },
    });
  });

  it('keeps live items that repeat a key when merging', () => {
    const repeated = { spec: { ports: [{ port: '80', protocol: 'TCP', name: 'a' }, { port: '80', protocol: 'TCP', name: 'b' }] } };
    expect(merge(repeated, { spec: { ports: [{ port: '81', protocol: 'TCP' }] } }, schema)).toEqual({
      spec: { ports: [...repeated.spec.ports, { port: '81', protocol: 'TCP' }] },
    });
  });

  it('compares: added subtrees with their maps, changed leaves, removed items', () => {
    const next = { spec: { ports: [], finalizers: ['a'], args: ['x', 'y'], selector: { app: 'web', tier: 'db' }, image: 'two' } };
    const diff = compare(live, next, schema, false);
    expect(diff.added.paths().map(pathString)).toEqual(['.spec.selector.tier']);
    expect(diff.modified.paths().map(pathString)).toEqual(['.spec.image']);
    expect(diff.removed.paths().map(pathString)).toEqual([
      '.spec.ports[port="80",protocol="TCP"]',
      '.spec.ports[port="80",protocol="TCP"].name',
      '.spec.ports[port="80",protocol="TCP"].port',
      '.spec.ports[port="80",protocol="TCP"].protocol',
    ]);
    expect(compare({}, { spec: { selector: { a: 'b' } } }, schema, false).added.toFieldsV1()).toEqual({ 'f:spec': { '.': {}, 'f:selector': { '.': {}, 'f:a': {} } } });
    expect(compare({}, { spec: { selector: { a: 'b' } } }, schema, true).added.toFieldsV1()).toEqual({ 'f:spec': { 'f:selector': { '.': {}, 'f:a': {} } } });
  });

  it('removes the paths of a set, whole subtrees with them', () => {
    const gone = FieldSet.fromFieldsV1({ 'f:spec': { 'f:ports': { 'k:{"port":"80","protocol":"TCP"}': {} }, 'f:finalizers': { 'v:"a"': {} }, 'f:selector': {} } });
    expect(removeItems(live, gone, schema)).toEqual({ spec: { ports: [], finalizers: [], args: ['x', 'y'], image: 'one' } });
  });
});

describe('managers from User-Agent', () => {
  it('takes the product before the first slash, printable characters only, at most 128 bytes', () => {
    expect(managerFromUserAgent('kubectl/v1.32.0 (linux/amd64) kubernetes/abc')).toBe('kubectl');
    expect(managerFromUserAgent('kubectl-client-side-apply/v1.20.0')).toBe('kubectl-client-side-apply');
    expect(managerFromUserAgent('Python\u0007-client/1')).toBe('Python-client');
    expect(managerFromUserAgent('x'.repeat(200))).toHaveLength(128);
    expect(managerFromUserAgent(undefined)).toBe('');
  });
});
