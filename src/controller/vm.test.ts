import { describe, expect, it } from 'vitest';
import type { DataVolume } from '../api/datavolume.ts';
import type { DataSource } from '../api/datasource.ts';
import { reconcileVirtualMachine, resolveTemplateSourceRef, type VirtualMachine } from './vm.ts';

const vm: VirtualMachine = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'vm1', namespace: 'ns', uid: 'vm-uid' },
  spec: {
    running: false,
    template: { spec: { priorityClassName: 'high', volumes: [{ name: 'root', dataVolume: { name: 'root-dv' } }] } },
    dataVolumeTemplates: [
      { metadata: { name: 'root-dv', labels: { tier: 'os' } }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } },
      { metadata: { name: 'data-dv' }, spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } }, priorityClassName: 'low' } },
    ],
  },
};
const withPhase = (name: string, phase: string): DataVolume => ({ metadata: { name, namespace: 'ns' }, spec: {}, status: { phase: phase as never } });

describe('reconcileVirtualMachine', () => {
  it('creates each template DataVolume as virt-controller does', () => {
    const d = reconcileVirtualMachine(vm, new Map(), 'now');
    expect(d.create.map((dv) => dv.metadata?.name)).toEqual(['root-dv', 'data-dv']);
    const root = d.create[0]!;
    expect(root.metadata?.labels).toEqual({ tier: 'os', 'kubevirt.io/created-by': 'vm-uid' });
    expect(root.metadata?.annotations).toEqual({ 'cdi.kubevirt.io/allowClaimAdoption': 'true' });
    expect(root.metadata?.ownerReferences).toEqual([
      { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: 'vm1', uid: 'vm-uid', controller: true, blockOwnerDeletion: true },
    ]);
    expect(root.spec?.priorityClassName).toBe('high');
    expect(d.create[1]!.spec?.priorityClassName).toBe('low');
    expect(d.status.printableStatus).toBe('Provisioning');
    expect(d.events.map((e) => e.message)).toEqual(['Created DataVolume root-dv', 'Created DataVolume data-dv']);
  });

  it('reports ready only when every DataVolume is Succeeded or PendingPopulation', () => {
    const some = reconcileVirtualMachine(vm, new Map([['root-dv', withPhase('root-dv', 'Succeeded')], ['data-dv', withPhase('data-dv', 'ImportInProgress')]]), 'now');
    expect(some.create).toEqual([]);
    expect(some.status.conditions?.[0]).toMatchObject({ type: 'DataVolumesReady', status: 'False', message: 'Waiting on DataVolumes to be ready: data-dv' });
    const all = reconcileVirtualMachine(vm, new Map([['root-dv', withPhase('root-dv', 'Succeeded')], ['data-dv', withPhase('data-dv', 'PendingPopulation')]]), 'now');
    expect(all.status.conditions?.[0]).toMatchObject({ type: 'DataVolumesReady', status: 'True' });
    expect(all.status.printableStatus).toBe('Stopped');
  });

  it('reports DataVolumeError when one failed', () => {
    const d = reconcileVirtualMachine(vm, new Map([['root-dv', withPhase('root-dv', 'Failed')], ['data-dv', withPhase('data-dv', 'Succeeded')]]), 'now');
    expect(d.status.printableStatus).toBe('DataVolumeError');
    expect(d.events).toEqual([{ type: 'Warning', reason: 'FailedDataVolumeImport', message: 'DataVolume root-dv failed to import disk image' }]);
  });

  it('waits for the VM to start when immediate creation is off', () => {
    const lazy = { ...vm, metadata: { ...vm.metadata, annotations: { 'kubevirt.io/immediate-data-volume-creation': 'false' } } };
    expect(reconcileVirtualMachine(lazy, new Map(), 'now').create).toEqual([]);
  });
});

describe('dataVolumeTemplates with sourceRef (KubeVirt resolves the DataSource when it creates the DV)', () => {
  const sources: Record<string, DataSource> = {
    fedora: { metadata: { name: 'fedora', namespace: 'golden' }, spec: { source: { pvc: { name: 'fedora-0123456789ab' } } } },
    'fedora-latest': { metadata: { name: 'fedora-latest', namespace: 'golden' }, spec: { source: { dataSource: { name: 'fedora' } } } },
    snap: { metadata: { name: 'snap', namespace: 'golden' }, spec: { source: { snapshot: { name: 's', namespace: 'golden' } } } },
  };
  const get = (name: string, ns: string) => (ns === 'golden' ? sources[name] : undefined);
  const dv = (ref: string): DataVolume => ({ metadata: { name: 'root', namespace: 'vms' }, spec: { sourceRef: { kind: 'DataSource', name: ref, namespace: 'golden' }, storage: {} } });

  it('becomes a pvc source, through a DataSource chain too', () => {
    for (const ref of ['fedora', 'fedora-latest']) {
      expect(resolveTemplateSourceRef(dv(ref), get).spec).toEqual({ source: { pvc: { namespace: 'golden', name: 'fedora-0123456789ab' } }, storage: {} });
    }
  });

  it('stays a sourceRef when the DataSource is missing or does not point at a PVC', () => {
    expect(resolveTemplateSourceRef(dv('missing'), get)).toEqual(dv('missing'));
    expect(resolveTemplateSourceRef(dv('snap'), get)).toEqual(dv('snap'));
  });
});
