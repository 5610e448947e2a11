import fs from 'node:fs';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalVolumePathAnnotation } from '../../src/node/layout.ts';
import { eventually, startHarness, type Harness } from './harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

function claim(name: string, size: string, extra: Partial<NonNullable<V1PersistentVolumeClaim['spec']>> = {}): V1PersistentVolumeClaim {
  return { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: size } }, ...extra } };
}

async function bound(name: string): Promise<V1PersistentVolumeClaim> {
  return eventually(async () => {
    const c = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name });
    return c.status?.phase === 'Bound' ? c : undefined;
  }, `claim ${name} Bound`);
}

describe('local volume provisioning', () => {
  it('binds a Filesystem claim of the default class to a directory with the requested capacity', async () => {
    const created = await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('fs-claim', '64Mi') });
    const c = await bound('fs-claim');
    const dir = c.metadata?.annotations?.[LocalVolumePathAnnotation] ?? '';
    expect(dir).toBe(`${h.dataDir}/volumes/default/${created.metadata?.uid}`);
    expect(fs.statSync(dir).isDirectory()).toBe(true);
    expect(c.spec?.volumeName).toBe(`pvc-${created.metadata?.uid}`);
    expect(c.status?.capacity?.storage).toBe('64Mi');
    expect(c.status?.accessModes).toEqual(['ReadWriteOnce']);

    await fs.promises.writeFile(`${dir}/disk.img`, 'data');
    await h.core.deleteNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'fs-claim' });
    await eventually(async () => !fs.existsSync(dir), 'volume directory removed');
  });

  it('binds a Block claim to a sparse file of exactly the requested size', async () => {
    await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('blk-claim', '3Mi', { volumeMode: 'Block', storageClassName: 'local' }) });
    const c = await bound('blk-claim');
    const file = c.metadata?.annotations?.[LocalVolumePathAnnotation] ?? '';
    expect(file.endsWith('.img')).toBe(true);
    const st = fs.statSync(file);
    expect(st.size).toBe(3 * 1024 * 1024);
    expect(st.blocks).toBe(0);
    await h.core.deleteNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'blk-claim' });
    await eventually(async () => !fs.existsSync(file), 'block file removed');
  });

  it('leaves claims of classes it does not provision Pending', async () => {
    await h.storage.createStorageClass({ body: { metadata: { name: 'elsewhere' }, provisioner: 'example.com/nfs' } });
    await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('other-claim', '1Mi', { storageClassName: 'elsewhere' }) });
    await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('marker', '1Mi') });
    await bound('marker');
    const c = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'other-claim' });
    expect(c.status?.phase ?? 'Pending').toBe('Pending');
  });

  it('honours WaitForFirstConsumer: binds only once a pod uses the claim', async () => {
    await h.storage.createStorageClass({ body: { metadata: { name: 'local-wffc' }, provisioner: 'local.cdi.kubevirt.io', volumeBindingMode: 'WaitForFirstConsumer' } });
    await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('wffc-claim', '1Mi', { storageClassName: 'local-wffc' }) });
    await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('marker2', '1Mi') });
    await bound('marker2');
    const pending = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'wffc-claim' });
    expect(pending.status?.phase ?? 'Pending').toBe('Pending');

    await h.core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'consumer' },
        spec: { containers: [{ name: 'c', image: 'cdi-ts/importer:latest', volumeMounts: [{ name: 'v', mountPath: '/data' }] }], volumes: [{ name: 'v', persistentVolumeClaim: { claimName: 'wffc-claim' } }] },
      },
    });
    const c = await bound('wffc-claim');
    expect(c.metadata?.annotations?.['volume.kubernetes.io/selected-node']).toBe('cdi-local');
    await h.core.deleteNamespacedPod({ namespace: 'default', name: 'consumer' });
  });

  it('records ProvisioningFailed on a Block claim larger than the file system can hold, and leaves it Pending', async () => {
    await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('huge-block', '1Pi', { volumeMode: 'Block' }) });
    const event = await eventually(async () => {
      const list = await h.core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=huge-block' });
      return list.items.find((e) => e.reason === 'ProvisioningFailed');
    }, 'ProvisioningFailed event');
    expect(event.type).toBe('Warning');
    expect(event.involvedObject.kind).toBe('PersistentVolumeClaim');
    expect(event.message).toMatch(/^failed to provision volume with StorageClass "local": a Block volume of 1125899906842624 bytes is larger than the data dir's file system \(\d+ bytes\)$/);
    expect(fs.existsSync(`${h.dataDir}/volumes/default/${event.involvedObject.uid}.img`)).toBe(false);
    const c = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'huge-block' });
    expect(c.status?.phase ?? 'Pending').toBe('Pending');
    expect(event.involvedObject.uid).toBe(c.metadata?.uid);
  });

  it('removes data of claims deleted while the agent was down', async () => {
    await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: claim('gone-while-down', '1Mi') });
    const c = await bound('gone-while-down');
    const dir = c.metadata?.annotations?.[LocalVolumePathAnnotation] ?? '';
    await h.stopAgent();
    await h.core.deleteNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'gone-while-down' });
    expect(fs.existsSync(dir)).toBe(true);
    await h.startAgent();
    expect(fs.existsSync(dir)).toBe(false);
  });
});
