import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUploadFailureRecorder, createUploadTargetResolver } from '../../src/controller/index.ts';
import { bindClaim, createDv, eventually, getDv, setPodStatus, startHarness, waitPhase, type Harness } from './harness.ts';

const size = { storage: { resources: { requests: { storage: '64Mi' } } } };
const cond = (dv: { status?: { conditions?: Array<{ type: string }> } }, type: string) => dv.status?.conditions?.find((c) => c.type === type);

describe('controller against the embedded API server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ retryBudget: 2 });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('imports: claim, importer pod, phases, progress, events, then cleans up the pod', async () => {
    const created = await createDv(h, { metadata: { name: 'blank1' }, spec: { source: { blank: {} }, ...size } });
    const pending = await waitPhase(h, 'blank1', 'Pending');
    expect(cond(pending, 'Bound')).toMatchObject({ status: 'False' });
    const pvc = await h.core.readNamespacedPersistentVolumeClaim({ name: 'blank1', namespace: 'default' });
    expect(pvc.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'DataVolume', name: 'blank1', uid: created.metadata?.uid, controller: true });
    expect(pvc.metadata?.annotations?.['cdi.kubevirt.io/storage.import.source']).toBe('none');

    await bindClaim(h, 'blank1');
    await waitPhase(h, 'blank1', 'ImportScheduled');
    const pod = await h.core.readNamespacedPod({ name: 'importer-blank1', namespace: 'default' });
    expect(pod.spec?.containers[0]?.image).toBe('cdi-ts/importer:latest');
    expect(pod.spec?.containers[0]?.env?.find((e) => e.name === 'IMPORTER_SOURCE')?.value).toBe('none');

    await setPodStatus(h, 'importer-blank1', 'Running', { state: { running: {} } });
    const inProgress = await waitPhase(h, 'blank1', 'ImportInProgress');
    expect(cond(inProgress, 'Running')).toMatchObject({ status: 'True', reason: 'Pod is running' });
    expect(inProgress.status?.progress).toBe('N/A');

    await setPodStatus(h, 'importer-blank1', 'Succeeded', { state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"message":"Import Complete"}' } } });
    const done = await waitPhase(h, 'blank1', 'Succeeded');
    expect(done.status?.progress).toBe('100.0%');
    expect(cond(done, 'Ready')).toMatchObject({ status: 'True' });
    await eventually(async () => {
      const pods = await h.core.listNamespacedPod({ namespace: 'default' });
      return pods.items.some((p) => p.metadata?.name === 'importer-blank1') ? undefined : true;
    }, 'importer pod deleted');
    const events = await h.core.listNamespacedEvent({ namespace: 'default' });
    const reasons = events.items.filter((e) => e.involvedObject.name === 'blank1').map((e) => e.reason);
    expect(reasons).toEqual(expect.arrayContaining(['ImportScheduled', 'ImportInProgress', 'ImportSucceeded']));
  });

  it('goes Failed with the last error once the retry budget is spent', async () => {
    await createDv(h, { metadata: { name: 'badurl' }, spec: { source: { http: { url: 'http://127.0.0.1:1/nothing.img' } }, ...size } });
    await bindClaim(h, 'badurl');
    const message = 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found';
    const crash = (restartCount: number) => ({ restartCount, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error', message } } });
    await setPodStatus(h, 'importer-badurl', 'Running', crash(1));
    const retrying = await eventually(async () => {
      const dv = await getDv(h, 'badurl');
      return dv.status?.restartCount === 1 ? dv : undefined;
    }, 'restartCount 1');
    expect(retrying.status?.phase).toBe('ImportInProgress');
    expect(cond(retrying, 'Running')).toMatchObject({ status: 'False', reason: 'Error', message });
    await setPodStatus(h, 'importer-badurl', 'Running', crash(2));
    const failed = await waitPhase(h, 'badurl', 'Failed');
    expect(failed.status?.restartCount).toBe(2);
    expect(cond(failed, 'Running')).toMatchObject({ status: 'False', reason: 'RetryBudgetExhausted', message });
  });

  it('uploads: TLS secret, Service and server pod; UploadReady; the proxy resolver finds it', async () => {
    await createDv(h, { metadata: { name: 'up1' }, spec: { source: { upload: {} }, ...size } });
    const resolver = createUploadTargetResolver(h.kc);
    await bindClaim(h, 'up1');
    await waitPhase(h, 'up1', 'UploadScheduled');
    const secret = await eventually(async () => h.core.readNamespacedSecret({ name: 'cdi-upload-up1', namespace: 'default' }), 'upload secret');
    expect(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
    expect(Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString()).toContain('BEGIN CERTIFICATE');
    await eventually(async () => h.core.readNamespacedService({ name: 'cdi-upload-up1', namespace: 'default' }), 'upload service');
    expect(await resolver.resolve('default', 'up1')).toEqual({ kind: 'not-ready' });
    expect(await resolver.resolve('default', 'nope')).toEqual({ kind: 'missing' });
    expect(await resolver.resolve('default', 'blank1')).toEqual({ kind: 'not-upload-target' });

    await setPodStatus(h, 'cdi-upload-up1', 'Running', { state: { running: {} } }, { ready: true, portMap: { '8443': 40443 } });
    await waitPhase(h, 'up1', 'UploadReady');
    expect(await resolver.resolve('default', 'up1')).toEqual({ kind: 'ready', url: 'https://127.0.0.1:40443', contentType: 'kubevirt' });
    await eventually(async () => {
      const pvc = await h.core.readNamespacedPersistentVolumeClaim({ name: 'up1', namespace: 'default' });
      return pvc.metadata?.annotations?.['cdi.kubevirt.io/storage.pod.ready'] === 'true' ? true : undefined;
    }, 'pod.ready annotation');

    // A failed upload (as the proxy reports it): Warning UploadFailed on the claim and the DataVolume, and the Running message.
    const failure = 'Saving stream failed: effective image size is larger than the reported available storage: 67108864';
    await createUploadFailureRecorder(h.kc).uploadFailed('default', 'up1', failure);
    const waiting = await eventually(async () => {
      const dv = await getDv(h, 'up1');
      return dv.status?.conditions?.find((c) => c.type === 'Running')?.message === failure ? dv : undefined;
    }, 'Running message of the failed upload');
    expect(waiting.status?.phase).toBe('UploadReady');
    const failedEvents = (await h.core.listNamespacedEvent({ namespace: 'default' })).items.filter((e) => e.reason === 'UploadFailed');
    expect(failedEvents.map((e) => [e.involvedObject.kind, e.involvedObject.name, e.type, e.message])).toEqual(
      expect.arrayContaining([
        ['PersistentVolumeClaim', 'up1', 'Warning', failure],
        ['DataVolume', 'up1', 'Warning', failure],
      ]),
    );

    await setPodStatus(h, 'cdi-upload-up1', 'Succeeded', { state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"message":"Upload Complete"}' } } });
    await waitPhase(h, 'up1', 'Succeeded');
    expect(await resolver.resolve('default', 'up1')).toEqual({ kind: 'finished' });
  });

  it('clones across namespaces: target upload server, source pod with a client certificate, phases, cleanup', async () => {
    await h.core.createNamespace({ body: { metadata: { name: 'golden' } } });
    await h.core.createNamespacedPersistentVolumeClaim({
      namespace: 'golden',
      body: { metadata: { name: 'base' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '100Mi' } } } },
    });
    await bindClaim(h, 'base', 'golden');
    await createDv(h, { metadata: { name: 'copy' }, spec: { source: { pvc: { namespace: 'golden', name: 'base' } }, storage: {} } });
    const pvc = await eventually(async () => h.core.readNamespacedPersistentVolumeClaim({ name: 'copy', namespace: 'default' }), 'target claim');
    expect(pvc.spec?.resources?.requests?.storage).toBe('100Mi');
    await bindClaim(h, 'copy');
    await waitPhase(h, 'copy', 'CloneScheduled');
    const server = await eventually(async () => h.core.readNamespacedPod({ name: 'cdi-upload-copy', namespace: 'default' }), 'target upload server');
    expect(server.spec?.containers[0]?.env?.find((e) => e.name === 'CLIENT_NAME')?.value).toBe('golden/base-default/copy');
    await setPodStatus(h, 'cdi-upload-copy', 'Running', { state: { running: {} } }, { ready: true, portMap: { '8443': 41443 } });
    const sourcePod = `${pvc.metadata?.uid}-source-pod`;
    const cloner = await eventually(async () => h.core.readNamespacedPod({ name: sourcePod, namespace: 'golden' }), 'clone source pod');
    const env = Object.fromEntries((cloner.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.name]));
    expect(env).toMatchObject({ UPLOAD_URL: 'https://127.0.0.1:41443/v1beta1/upload', SOURCE_PATH: '/var/run/cdi/clone/source/disk.img', CLIENT_CERT: sourcePod });
    await h.core.readNamespacedSecret({ name: sourcePod, namespace: 'golden' });
    await setPodStatus(h, sourcePod, 'Running', { state: { running: {} } }, { namespace: 'golden' });
    await waitPhase(h, 'copy', 'CloneInProgress');
    await setPodStatus(h, 'cdi-upload-copy', 'Succeeded', { state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"message":"Clone Complete"}' } } });
    await waitPhase(h, 'copy', 'Succeeded');
    await eventually(async () => {
      const pods = await h.core.listNamespacedPod({ namespace: 'golden' });
      const secrets = await h.core.listNamespacedSecret({ namespace: 'golden' });
      return pods.items.length === 0 && !secrets.items.some((x) => x.metadata?.name === sourcePod) ? true : undefined;
    }, 'clone source pod and secret removed');
  });

  it('keeps a StorageProfile for each StorageClass', async () => {
    const profile = await eventually(async () => {
      const p = (await h.custom.getClusterCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'storageprofiles', name: 'local' })) as {
        status?: { provisioner?: string; claimPropertySets?: Array<{ accessModes: string[]; volumeMode: string }> };
      };
      return p.status?.claimPropertySets ? p : undefined;
    }, 'StorageProfile local');
    expect(profile.status?.provisioner).toBe('local.cdi.kubevirt.io');
    expect(profile.status?.claimPropertySets?.[0]).toEqual({ accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' });
  });

  it('reports a DataSource ready once its claim is populated', async () => {
    const dsRef = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datasources' };
    await h.custom.createNamespacedCustomObject({
      ...dsRef,
      namespace: 'default',
      body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataSource', metadata: { name: 'golden' }, spec: { source: { pvc: { name: 'blank1', namespace: 'default' } } } },
    });
    const ds = await eventually(async () => {
      const d = (await h.custom.getNamespacedCustomObject({ ...dsRef, namespace: 'default', name: 'golden' })) as { status?: { conditions?: Array<{ type: string; status: string; reason: string }> } };
      return d.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
    }, 'DataSource Ready');
    expect(ds.reason).toBe('Ready');
  });

  it('refuses invalid manifests with CDI webhook messages', async () => {
    const err = await createDv(h, { metadata: { name: 'bad' }, spec: { source: {}, ...size } }).catch((e: unknown) => e);
    expect((err as { code?: number }).code).toBe(422);
    expect(JSON.stringify((err as { body?: unknown }).body)).toContain('Missing Data volume source');
  });

  it('creates DataVolumes from VM templates and cascades the VM deletion', async () => {
    const vmRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
    const tmpl = (name: string) => ({ metadata: { name }, spec: { source: { blank: {} }, ...size } });
    const vm = (await h.custom.createNamespacedCustomObject({
      ...vmRef,
      namespace: 'default',
      body: {
        apiVersion: 'kubevirt.io/v1',
        kind: 'VirtualMachine',
        metadata: { name: 'vm1' },
        spec: {
          running: false,
          dataVolumeTemplates: [tmpl('vm1-root'), tmpl('vm1-data')],
          template: { spec: { volumes: [{ name: 'root', dataVolume: { name: 'vm1-root' } }, { name: 'data', dataVolume: { name: 'vm1-data' } }] } },
        },
      },
    })) as { metadata: { uid: string } };
    const root = await eventually(async () => getDv(h, 'vm1-root'), 'template DataVolume');
    expect(root.metadata?.labels?.['kubevirt.io/created-by']).toBe(vm.metadata.uid);
    expect(root.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'VirtualMachine', name: 'vm1', controller: true });
    await eventually(async () => getDv(h, 'vm1-data'), 'second template DataVolume');
    const waiting = (await h.custom.getNamespacedCustomObject({ ...vmRef, namespace: 'default', name: 'vm1' })) as { status?: { printableStatus?: string } };
    expect(['Provisioning', undefined]).toContain(waiting.status?.printableStatus);

    for (const name of ['vm1-root', 'vm1-data']) {
      await bindClaim(h, name);
      await setPodStatus(h, `importer-${name}`, 'Succeeded', { state: { terminated: { exitCode: 0, reason: 'Completed', message: '{"message":"Import Complete"}' } } });
      await waitPhase(h, name, 'Succeeded');
    }
    await eventually(async () => {
      const v = (await h.custom.getNamespacedCustomObject({ ...vmRef, namespace: 'default', name: 'vm1' })) as { status?: { conditions?: Array<{ type: string; status: string }> } };
      return v.status?.conditions?.find((c) => c.type === 'DataVolumesReady' && c.status === 'True');
    }, 'VM DataVolumesReady');

    await h.custom.deleteNamespacedCustomObject({ ...vmRef, namespace: 'default', name: 'vm1' });
    await eventually(async () => {
      const dvs = (await h.custom.listNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes', namespace: 'default' })) as { items: Array<{ metadata: { name: string } }> };
      const pvcs = await h.core.listNamespacedPersistentVolumeClaim({ namespace: 'default' });
      const left = [...dvs.items.map((d) => d.metadata.name), ...pvcs.items.map((p) => p.metadata?.name ?? '')].filter((n) => n.startsWith('vm1-'));
      return left.length === 0 ? true : undefined;
    }, 'VM DataVolumes and claims garbage-collected');
  });
});
