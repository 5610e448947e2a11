import { describe, expect, it } from 'vitest';
import { authorizeClone, type AccessCheck } from './clone-authorization.ts';
import type { DataSource } from './datasource.ts';
import type { DataVolume } from './datavolume.ts';

const clone = (source: DataVolume['spec']['source'], sourceRef?: DataVolume['spec']['sourceRef']): DataVolume =>
  ({ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'copy' }, spec: { ...(source ? { source } : {}), ...(sourceRef ? { sourceRef } : {}), storage: {} } }) as DataVolume;

describe('clone authorization (CDI CanUserClonePVC)', () => {
  const asked: AccessCheck[] = [];
  const ctx = (allowed: (c: AccessCheck) => boolean, dataSources: Record<string, DataSource> = {}) => ({
    namespace: 'team',
    username: 'alice',
    canI: (c: AccessCheck) => {
      asked.push(c);
      return allowed(c);
    },
    getDataSource: (ns: string, name: string) => dataSources[`${ns}/${name}`],
  });

  it('allows same-namespace clones and non-clones without asking', async () => {
    asked.length = 0;
    expect(await authorizeClone(clone({ pvc: { namespace: 'team', name: 'disk' } }), ctx(() => false))).toEqual({ allowed: true });
    expect(await authorizeClone(clone({ pvc: { name: 'disk' } } as DataVolume['spec']['source']), ctx(() => false))).toEqual({ allowed: true });
    expect(await authorizeClone(clone({ blank: {} }), ctx(() => false))).toEqual({ allowed: true });
    expect(asked).toEqual([]);
  });

  it('asks for create on datavolumes/source, then pods, in the source namespace; refuses with CDI\'s text', async () => {
    asked.length = 0;
    const refused = await authorizeClone(clone({ pvc: { namespace: 'golden', name: 'disk' } }), ctx(() => false));
    expect(refused).toEqual({ allowed: false, reason: 'User alice has insufficient permissions in clone source namespace golden', field: 'spec.source.PVC.namespace' });
    expect(asked).toEqual([
      { namespace: 'golden', verb: 'create', group: 'cdi.kubevirt.io', resource: 'datavolumes', subresource: 'source', name: 'disk' },
      { namespace: 'golden', verb: 'create', group: '', resource: 'pods', name: 'disk' },
    ]);
    expect(await authorizeClone(clone({ pvc: { namespace: 'golden', name: 'disk' } }), ctx((c) => c.resource === 'pods'))).toEqual({ allowed: true });
  });

  it('follows a sourceRef to the DataSource\'s PVC', async () => {
    const ds = { spec: { source: { pvc: { namespace: 'golden', name: 'fedora' } } } } as DataSource;
    const refused = await authorizeClone(clone(undefined, { kind: 'DataSource', name: 'fedora', namespace: 'team' }), ctx(() => false, { 'team/fedora': ds }));
    expect(refused.allowed).toBe(false);
    expect(await authorizeClone(clone(undefined, { kind: 'DataSource', name: 'missing' }), ctx(() => false))).toEqual({ allowed: true });
  });
});
