import { describe, expect, it } from 'vitest';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { DataSource } from '../api/datasource.ts';
import type { DataVolume } from '../api/datavolume.ts';
import { dataSourceUpdate, type DataSourceObserved } from './datasource.ts';

const now = '2026-12-03T12:00:00Z';
const ds = (name: string, source: NonNullable<DataSource['spec']>['source']): DataSource => ({ metadata: { name, namespace: 'golden' }, spec: { source } });

function world(objects: { dataSources?: DataSource[]; claims?: V1PersistentVolumeClaim[]; dataVolumes?: DataVolume[] }): DataSourceObserved {
  const find = <T extends { metadata?: { name?: string; namespace?: string } }>(list: T[] | undefined) => (name: string, ns: string) =>
    list?.find((o) => o.metadata?.name === name && o.metadata?.namespace === ns);
  return { getDataSource: find(objects.dataSources), getClaim: find(objects.claims), getDataVolume: find(objects.dataVolumes) };
}

const claim = (name: string, labels: Record<string, string> = {}): V1PersistentVolumeClaim => ({ metadata: { name, namespace: 'golden', labels } });
const ready = (d: DataSource, w: DataSourceObserved) => dataSourceUpdate(d, w, now).status.conditions?.[0];

describe('DataSource status (upstream datasource-controller)', () => {
  it('a PVC source is Ready once the claim exists and its DataVolume Succeeded', () => {
    const d = ds('fedora', { pvc: { name: 'fedora-1' } });
    expect(ready(d, world({}))).toMatchObject({ status: 'False', reason: 'NotFound', message: 'PVC not found' });
    const dv: DataVolume = { metadata: { name: 'fedora-1', namespace: 'golden' }, spec: {}, status: { phase: 'ImportInProgress' } };
    expect(ready(d, world({ claims: [claim('fedora-1')], dataVolumes: [dv] }))).toMatchObject({ status: 'False', reason: 'ImportInProgress', message: 'Import DataVolume phase ImportInProgress' });
    const done = dataSourceUpdate(d, world({ claims: [claim('fedora-1')], dataVolumes: [{ ...dv, status: { phase: 'Succeeded' } }] }), now);
    expect(done.status.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'Ready', message: 'DataSource is ready to be consumed', lastTransitionTime: now });
    expect(done.status.source).toEqual({ pvc: { name: 'fedora-1' } });
  });

  it('copies KubeVirt labels from a ready source, and only those', () => {
    const labels = { 'instancetype.kubevirt.io/default-preference': 'fedora', 'kubevirt.io/os': 'linux', app: 'containerized-data-importer', 'example.com/x': 'y' };
    const out = dataSourceUpdate(ds('fedora', { pvc: { name: 'c' } }), world({ claims: [claim('c', labels)] }), now);
    expect(out.labels).toEqual({ 'instancetype.kubevirt.io/default-preference': 'fedora', 'kubevirt.io/os': 'linux' });
  });

  it('no source, and snapshot sources (no snapshots here), are not Ready and say why', () => {
    expect(ready(ds('a', {}), world({}))).toMatchObject({ status: 'False', reason: 'NoSource', message: 'No source PVC set' });
    const snap = dataSourceUpdate(ds('a', { snapshot: { name: 's' } }), world({}), now);
    expect(snap.status.conditions?.[0]).toMatchObject({ status: 'False', reason: 'SnapshotNotSupported' });
    expect(snap.status.source).toEqual({});
  });

  it('follows a DataSource → DataSource reference one level, to what the target points at', () => {
    const target = ds('fedora', { pvc: { name: 'c' } });
    const alias = ds('fedora-latest', { dataSource: { name: 'fedora' } });
    const out = dataSourceUpdate(alias, world({ dataSources: [target, alias], claims: [claim('c')] }), now);
    expect(out.status.conditions?.[0]).toMatchObject({ status: 'True', reason: 'Ready' });
    expect(out.status.source).toEqual({ pvc: { name: 'c' } });
  });

  it.each([
    ['self reference', ds('loop', { dataSource: { name: 'loop' } }), [], 'SelfReference', 'DataSource cannot self-reference'],
    ['another namespace', ds('x', { dataSource: { name: 'y', namespace: 'other' } }), [], 'CrossNamespaceReference', 'DataSource cannot reference a DataSource in another namespace'],
    ['a missing target', ds('x', { dataSource: { name: 'gone' } }), [], 'NotFound', 'datasources.cdi.kubevirt.io "gone" not found'],
    ['a chain of two (and so any loop a→b→a)', ds('a', { dataSource: { name: 'b' } }), [ds('b', { dataSource: { name: 'a' } })], 'MaxReferenceDepthReached', 'DataSource reference chain exceeds maximum depth of 1'],
  ])('refuses %s', (_what, d, others, reason, message) => {
    const out = dataSourceUpdate(d, world({ dataSources: [d, ...others] }), now);
    expect(out.status.conditions?.[0]).toMatchObject({ status: 'False', reason, message });
    expect(out.status.source).toEqual({});
  });

  it('keeps the transition time while the status stays', () => {
    const d = ds('a', {});
    const first = dataSourceUpdate(d, world({}), now);
    const again = dataSourceUpdate({ ...d, status: first.status }, world({}), '2026-12-03T13:00:00Z');
    expect(again.status).toEqual(first.status);
  });
});
