import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveApiCalls, pathShape, verbOf } from './support/api-calls.ts';

describe('API call derivation for the RBAC check', () => {
  it('maps REST paths and methods to RBAC coordinates', () => {
    expect(pathShape('/api/v1/namespaces/{namespace}/pods/{name}/status')).toEqual({ group: '', resource: 'pods/status', namespaced: true, named: true });
    expect(pathShape('/api/v1/namespaces')).toEqual({ group: '', resource: 'namespaces', namespaced: false, named: false });
    expect(pathShape('/api/v1/namespaces/{name}')).toEqual({ group: '', resource: 'namespaces', namespaced: false, named: true });
    expect(pathShape('/apis/{group}/{version}/namespaces/{namespace}/{plural}')).toEqual({ group: '{group}', resource: '{plural}', namespaced: true, named: false });
    expect(pathShape('/apis/coordination.k8s.io/v1/')).toBeUndefined();
    expect([verbOf('GET', true), verbOf('GET', false), verbOf('DELETE', false), verbOf('PUT', true)]).toEqual(['get', 'list', 'deletecollection', 'update']);
  });

  it('sees through wrappers, helper functions and constants, and skips unreachable code', () => {
    const repo = join(import.meta.dirname, '..', '..');
    const derived = deriveApiCalls(repo, ['test/cluster/fixtures/api-calls/main.ts']).get('test/cluster/fixtures/api-calls/main.ts')!;
    expect(derived.unresolved).toEqual([]);
    const found = new Set(derived.requirements.map((r) => `${r.verb} ${r.group}/${r.resource} ${r.namespace ?? '-'} ${r.name ?? '-'}`));
    expect([...found].sort()).toEqual([
      'get /configmaps kube-system settings',
      'get example.io/gadgets default g1',
      'list example.io/widgets - -',
      'watch example.io/widgets - -',
    ]);
  });
});
