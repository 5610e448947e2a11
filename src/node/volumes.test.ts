import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { decideClaim } from './volumes.ts';

const claim = (over: { class?: string; size?: string; mode?: 'Block' | 'Filesystem'; phase?: string; path?: string } = {}): V1PersistentVolumeClaim => ({
  metadata: { name: 'c', namespace: 'ns', uid: 'u1', annotations: over.path ? { 'local.cdi.kubevirt.io/path': over.path } : {} },
  spec: {
    ...(over.class !== undefined ? { storageClassName: over.class } : {}),
    volumeMode: over.mode ?? 'Filesystem',
    resources: { requests: over.size === undefined ? { storage: '1Gi' } : over.size ? { storage: over.size } : {} },
  },
  ...(over.phase ? { status: { phase: over.phase } } : {}),
});
const local = { metadata: { name: 'local' }, provisioner: 'local.cdi.kubevirt.io' };

describe('decideClaim', () => {
  it('binds claims of the default class, or of none, to a directory or an .img file keyed by uid', () => {
    expect(decideClaim('/d', claim(), undefined, false)).toEqual({ action: 'bind', path: '/d/volumes/ns/u1', block: false, capacityBytes: 1 << 30, capacity: '1Gi' });
    // Provisioned in whole MiB, reported as a canonical quantity.
    expect(decideClaim('/d', claim({ size: '2284557073' }), undefined, false)).toMatchObject({ capacityBytes: 2179 * 2 ** 20, capacity: '2179Mi' });
    expect(decideClaim('/d', claim({ size: '1G' }), undefined, false)).toMatchObject({ capacityBytes: 954 << 20, capacity: '954Mi' });
    expect(decideClaim('/d', claim({ class: 'local', mode: 'Block', size: '3Mi' }), local, false)).toMatchObject({ action: 'bind', path: '/d/volumes/ns/u1.img', block: true, capacityBytes: 3 << 20 });
  });

  it('leaves alone claims of other provisioners, and claims without a size', () => {
    expect(decideClaim('/d', claim({ class: 'nfs' }), { metadata: { name: 'nfs' }, provisioner: 'example.com/nfs' }, false)).toMatchObject({ action: 'wait' });
    expect(decideClaim('/d', claim({ class: 'missing' }), undefined, false)).toMatchObject({ action: 'wait' });
    expect(decideClaim('/d', claim({ size: '' }), undefined, false)).toMatchObject({ action: 'wait', reason: expect.stringContaining('requests.storage') });
  });

  it('waits for a consumer under WaitForFirstConsumer', () => {
    const wffc = { ...local, volumeBindingMode: 'WaitForFirstConsumer' };
    expect(decideClaim('/d', claim({ class: 'local' }), wffc, false)).toMatchObject({ action: 'wait', reason: 'waiting for first consumer to be created before binding' });
    expect(decideClaim('/d', claim({ class: 'local' }), wffc, true)).toMatchObject({ action: 'bind' });
  });

  it('only re-provisions what it bound itself', () => {
    expect(decideClaim('/d', claim({ phase: 'Bound', path: '/d/volumes/ns/u1' }), undefined, false)).toMatchObject({ action: 'ensure', path: '/d/volumes/ns/u1' });
    expect(decideClaim('/d', claim({ phase: 'Bound' }), undefined, false)).toMatchObject({ action: 'wait', reason: 'bound by someone else' });
  });
});
