import type { V1ContainerStatus, V1PersistentVolumeClaim, V1Pod, V1StorageClass } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { DataVolume, DataVolumeSpec } from '../api/datavolume.ts';
import { renderClaim } from './claim.ts';
import { workerImages } from './pods.ts';
import { reconcileDataVolume, type Action, type Observed } from './reconcile.ts';

const now = '2026-01-01T00:00:00Z';
const opts = { images: workerImages(), retryBudget: 3, now };
const localClass: V1StorageClass = {
  metadata: { name: 'local', annotations: { 'storageclass.kubernetes.io/is-default-class': 'true' } },
  provisioner: 'local',
  volumeBindingMode: 'Immediate',
};
const wffcClass: V1StorageClass = { metadata: { name: 'wffc' }, provisioner: 'local', volumeBindingMode: 'WaitForFirstConsumer' };

function dv(spec: DataVolumeSpec, status?: DataVolume['status'], annotations?: Record<string, string>): DataVolume {
  return {
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name: 'disk', namespace: 'ns', uid: 'dv-uid', ...(annotations ? { annotations } : {}) },
    spec,
    ...(status ? { status } : {}),
  };
}
const http = (extra: Record<string, unknown> = {}): DataVolumeSpec => ({
  source: { http: { url: 'http://example.com/disk.qcow2', ...extra } },
  storage: { resources: { requests: { storage: '1Gi' } } },
});
const upload: DataVolumeSpec = { source: { upload: {} }, storage: { resources: { requests: { storage: '1Gi' } } } };

function claimFor(d: DataVolume, phase = 'Bound', annotations: Record<string, string> = {}): V1PersistentVolumeClaim {
  const r = renderClaim({ dv: d, storageClasses: [localClass, wffcClass], profiles: new Map(), config: undefined });
  if (!r.ok) throw new Error(r.message);
  const c = r.claim;
  c.metadata!.uid = 'pvc-uid';
  c.metadata!.annotations = { ...c.metadata!.annotations, ...annotations };
  c.status = { phase };
  return c;
}

function pod(name: string, phase: string, container: V1ContainerStatus | undefined, ready = false): V1Pod {
  return {
    metadata: { name, namespace: 'ns' },
    status: {
      phase,
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      ...(container ? { containerStatuses: [container] } : {}),
    },
  };
}
const running = (restarts = 0): V1ContainerStatus => ({ name: 'c', image: 'i', imageID: '', ready: true, restartCount: restarts, state: { running: {} } });
const crashed = (message: string, restarts: number): V1ContainerStatus => ({
  name: 'c',
  image: 'i',
  imageID: '',
  ready: false,
  restartCount: restarts,
  state: { waiting: { reason: 'CrashLoopBackOff' } },
  lastState: { terminated: { exitCode: 1, reason: 'Error', message } },
});
const completed = (message: string, exitCode = 0): V1ContainerStatus => ({
  name: 'c',
  image: 'i',
  imageID: '',
  ready: false,
  restartCount: 0,
  state: { terminated: { exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', message } },
});

function observed(extra: Partial<Observed>): Observed {
  return { secretExists: false, storageClasses: [localClass, wffcClass], profiles: new Map(), ...extra };
}
const kinds = (actions: Action[]) => actions.map((a) => a.kind);
const cond = (d: ReturnType<typeof reconcileDataVolume>, type: string) => d.status.conditions?.find((c) => c.type === type);

describe('reconcileDataVolume: import', () => {
  it('creates the claim first and reports Pending with CDI conditions', () => {
    const d = reconcileDataVolume(dv(http()), observed({}), opts);
    expect(d.status.phase).toBe('Pending');
    expect(d.status.progress).toBe('N/A');
    expect(kinds(d.actions)).toEqual(['createClaim']);
    expect(cond(d, 'Bound')).toMatchObject({ status: 'False', reason: 'NotFound', message: 'No PVC found' });
    expect(cond(d, 'Ready')).toMatchObject({ status: 'False' });
    expect(cond(d, 'Running')).toMatchObject({ status: 'False' });
  });

  it('renders the claim from storage with the filesystem overhead and CDI annotations', () => {
    const claim = claimFor(dv(http({ checksum: `sha256:${'0'.repeat(64)}`, extraHeaders: ['X-A: 1'] })));
    // ceil(1 GiB / (1 - 0.06)) bytes
    expect(claim.spec?.resources?.requests?.storage).toBe(String(Math.ceil(2 ** 30 / 0.94)));
    expect(claim.spec).toMatchObject({ accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem', storageClassName: 'local' });
    expect(claim.metadata?.ownerReferences).toEqual([
      { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: 'disk', uid: 'dv-uid', controller: true, blockOwnerDeletion: true },
    ]);
    expect(claim.metadata?.annotations).toMatchObject({
      'cdi.kubevirt.io/storage.import.source': 'http',
      'cdi.kubevirt.io/storage.import.endpoint': 'http://example.com/disk.qcow2',
      'cdi.kubevirt.io/storage.contentType': 'kubevirt',
      'cdi.kubevirt.io/storage.import.extraHeaders.0': 'X-A: 1',
    });
  });

  it('keeps spec.pvc verbatim', () => {
    const d = dv({ source: { blank: {} }, pvc: { accessModes: ['ReadWriteMany'], resources: { requests: { storage: '5Gi' } }, volumeMode: 'Block' } });
    expect(claimFor(d).spec).toEqual({ accessModes: ['ReadWriteMany'], resources: { requests: { storage: '5Gi' } }, volumeMode: 'Block' });
  });

  it('waits for a WaitForFirstConsumer claim unless immediate binding is requested', () => {
    const d = dv({ ...http(), storage: { storageClassName: 'wffc', resources: { requests: { storage: '1Gi' } } } });
    expect(reconcileDataVolume(d, observed({ pvc: claimFor(d, 'Pending') }), opts).status.phase).toBe('WaitForFirstConsumer');
    const immediate = claimFor(d, 'Pending', { 'cdi.kubevirt.io/storage.bind.immediate.requested': '' });
    const r = reconcileDataVolume(d, observed({ pvc: immediate }), opts);
    expect(r.status.phase).toBe('ImportScheduled');
    expect(kinds(r.actions)).toContain('createPod');
  });

  it('schedules an importer pod with CDI env once the claim is bound', () => {
    const d = dv(http({ secretRef: 'creds', checksum: `md5:${'a'.repeat(32)}` }));
    const r = reconcileDataVolume(d, observed({ pvc: claimFor(d) }), opts);
    expect(r.status.phase).toBe('ImportScheduled');
    expect(cond(r, 'Bound')).toMatchObject({ status: 'True', reason: 'Bound', message: 'PVC disk Bound' });
    const create = r.actions.find((a) => a.kind === 'createPod');
    const p = create?.kind === 'createPod' ? create.pod : undefined;
    expect(p?.metadata?.name).toBe('importer-disk');
    expect(p?.spec?.restartPolicy).toBe('OnFailure');
    const env = Object.fromEntries((p?.spec?.containers[0]?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom?.secretKeyRef?.key]));
    expect(env).toMatchObject({
      IMPORTER_SOURCE: 'http',
      IMPORTER_ENDPOINT: 'http://example.com/disk.qcow2',
      IMPORTER_CONTENTTYPE: 'kubevirt',
      OWNER_UID: 'dv-uid',
      FILESYSTEM_OVERHEAD: '0.06',
      IMPORTER_CHECKSUM: `md5:${'a'.repeat(32)}`,
      IMPORTER_ACCESS_KEY_ID: 'accessKeyId',
      IMPORTER_SECRET_KEY: 'secretKey',
    });
    expect(p?.spec?.containers[0]?.volumeMounts).toEqual([{ name: 'cdi-data-vol', mountPath: '/data' }]);
    expect(r.actions.find((a) => a.kind === 'event')).toMatchObject({ reason: 'ImportScheduled', message: 'Import into disk scheduled' });
  });

  const table: Array<[string, V1Pod, Partial<Record<string, unknown>>]> = [
    ['pending pod', pod('importer-disk', 'Pending', undefined), { phase: 'ImportScheduled' }],
    ['running pod', pod('importer-disk', 'Running', running()), { phase: 'ImportInProgress', progress: '42.50%', running: ['True', 'Pod is running', 'Processing stage: convert'] }],
    [
      'crash-looping pod below the budget',
      pod('importer-disk', 'Running', crashed('Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found', 2)),
      { phase: 'ImportInProgress', restartCount: 2, running: ['False', 'Error', 'Unable to connect to http data source: expected status code 200, got 404. Status: 404 Not Found'] },
    ],
    [
      'too small volume',
      pod('importer-disk', 'Running', crashed('virtual image size 2147483648 is larger than the reported available storage 1048576. A larger PVC is required', 1)),
      { phase: 'ImportInProgress', running: ['False', 'Error', 'DataVolume too small to contain image'] },
    ],
    [
      'retry budget spent',
      pod('importer-disk', 'Running', crashed('Unable to connect to http data source: dial tcp: lookup nowhere: no such host', 3)),
      { phase: 'Failed', restartCount: 3, running: ['False', 'RetryBudgetExhausted', 'Unable to connect to http data source: dial tcp: lookup nowhere: no such host'] },
    ],
    [
      'checksum mismatch',
      pod('importer-disk', 'Running', completed('checksum mismatch: expected sha256:aa, got sha256:bb', 3)),
      { phase: 'Failed', running: ['False', 'ChecksumError', 'checksum mismatch: expected sha256:aa, got sha256:bb'] },
    ],
    ['success', pod('importer-disk', 'Succeeded', completed('{"message":"Import Complete"}')), { phase: 'Succeeded', progress: '100.0%', running: ['False', 'Completed', 'Import Complete'], ready: 'True' }],
  ];
  it.each(table)('%s', (_name, p, want) => {
    const d = dv(http(), { phase: 'ImportScheduled' });
    const r = reconcileDataVolume(d, observed({ pvc: claimFor(d), pod: p, progress: { percent: 42.5, stage: 'convert' } }), opts);
    expect(r.status.phase).toBe(want.phase);
    if (want.progress) expect(r.status.progress).toBe(want.progress);
    if (want.restartCount !== undefined) expect(r.status.restartCount).toBe(want.restartCount);
    if (want.running) {
      const [status, reason, message] = want.running as string[];
      expect(cond(r, 'Running')).toMatchObject({ status, reason, message });
    }
    expect(cond(r, 'Ready')?.status).toBe(want.ready ?? 'False');
    if (want.phase === 'Failed') expect(kinds(r.actions)).toContain('deletePod');
  });

  it('waits for a worker slot when the limit is reached', () => {
    const d = dv(http());
    const r = reconcileDataVolume(d, observed({ pvc: claimFor(d), noWorkerSlot: 'waiting for a free worker' }), opts);
    expect(r.status.phase).toBe('ImportScheduled');
    expect(kinds(r.actions)).not.toContain('createPod');
    expect(cond(r, 'Running')).toMatchObject({ status: 'False', reason: 'Pending', message: 'waiting for a free worker' });
  });

  it('counts restarts against CDIConfig spec.workerRetryBudget', () => {
    const d = dv(http(), { phase: 'ImportInProgress' });
    const p = pod('importer-disk', 'Running', crashed('boom', 3));
    const config = { spec: { workerRetryBudget: 10 } };
    expect(reconcileDataVolume(d, observed({ pvc: claimFor(d), pod: p, config }), opts).status.phase).toBe('ImportInProgress');
  });

  it('deletes the worker after success and keeps Succeeded', () => {
    const d = dv(http(), { phase: 'Succeeded', progress: '100.0%' });
    const r = reconcileDataVolume(d, observed({ pvc: claimFor(d), pod: pod('importer-disk', 'Succeeded', completed('{}')) }), opts);
    expect(r.status.phase).toBe('Succeeded');
    expect(kinds(r.actions)).toContain('deletePod');
  });

  it('fails sources it cannot run with a clear Running message', () => {
    const r = reconcileDataVolume(dv({ source: { gcs: { url: 'gs://b/o' } }, storage: { resources: { requests: { storage: '1Gi' } } } }), observed({}), opts);
    expect(r.status.phase).toBe('Failed');
    expect(cond(r, 'Running')).toMatchObject({ reason: 'SourceNotSupported' });
    expect(cond(r, 'Running')?.message).toContain('source gcs');
    const stream = reconcileDataVolume(dv({ source: { registry: { imageStream: 'fedora:latest', pullMethod: 'node' } }, storage: { resources: { requests: { storage: '1Gi' } } } }), observed({}), opts);
    expect(stream.status.phase).toBe('Failed');
    expect(cond(stream, 'Running')).toMatchObject({ reason: 'SourceNotSupported' });
    expect(cond(stream, 'Running')?.message).toContain('imageStream needs OpenShift');
    const node = reconcileDataVolume(dv({ source: { registry: { url: 'docker://r/i:1', pullMethod: 'node' } }, storage: { resources: { requests: { storage: '1Gi' } } } }), observed({}), opts);
    expect(node.status.phase).not.toBe('Failed');
  });

  it('emits the phase event only when the phase changes', () => {
    const d = dv(http(), { phase: 'ImportInProgress' });
    const r = reconcileDataVolume(d, observed({ pvc: claimFor(d), pod: pod('importer-disk', 'Running', running()) }), opts);
    expect(kinds(r.actions)).not.toContain('event');
  });
});

describe('reconcileDataVolume: upload', () => {
  it('creates the server certificate, Service and pod, then reports UploadScheduled and UploadReady', () => {
    const d = dv(upload);
    const pvc = claimFor(d);
    expect(pvc.metadata?.annotations).toHaveProperty(['cdi.kubevirt.io/storage.upload.target'], '');
    const first = reconcileDataVolume(d, observed({ pvc }), opts);
    expect(first.status.phase).toBe('UploadScheduled');
    expect(kinds(first.actions)).toEqual(expect.arrayContaining(['serverCert', 'createService']));
    const second = reconcileDataVolume(d, observed({ pvc, secretExists: true }), opts);
    const create = second.actions.find((a) => a.kind === 'createPod');
    expect(create?.kind === 'createPod' && create.pod.metadata?.name).toBe('cdi-upload-disk');
    const env = create?.kind === 'createPod' ? create.pod.spec?.containers[0]?.env : [];
    expect(env?.find((e) => e.name === 'CLIENT_NAME')?.value).toBe('client.upload-server.cdi.kubevirt.io');
    const ready = reconcileDataVolume(d, observed({ pvc, secretExists: true, pod: pod('cdi-upload-disk', 'Running', running(), true) }), opts);
    expect(ready.status.phase).toBe('UploadReady');
    expect(ready.actions.find((a) => a.kind === 'annotateClaim')).toMatchObject({
      annotations: { 'cdi.kubevirt.io/storage.pod.phase': 'Running', 'cdi.kubevirt.io/storage.pod.ready': 'true' },
    });
    const done = reconcileDataVolume(dv(upload, { phase: 'UploadReady' }), observed({ pvc, secretExists: true, pod: pod('cdi-upload-disk', 'Succeeded', completed('{"message":"Upload Complete"}')) }), opts);
    expect(done.status.phase).toBe('Succeeded');
    expect(done.actions.find((a) => a.kind === 'event')).toMatchObject({ reason: 'UploadSucceeded', message: 'Successfully uploaded into disk' });
  });

  it('shows the last failed upload as the Running message while the server waits for a new one', () => {
    const d = dv(upload, { phase: 'UploadReady' });
    const pvc = claimFor(d);
    const failure = 'Saving stream failed: effective image size is larger than the reported available storage: 2147483648';
    const waiting = reconcileDataVolume(d, observed({ pvc, secretExists: true, pod: pod('cdi-upload-disk', 'Running', running(), true), uploadFailure: failure }), opts);
    expect(waiting.status.phase).toBe('UploadReady');
    expect(waiting.status.conditions?.find((c) => c.type === 'Running')?.message).toBe(failure);
    // Not yet ready (a restarted server): the pod's own state is shown, not an old failure.
    const starting = reconcileDataVolume(d, observed({ pvc, secretExists: true, pod: pod('cdi-upload-disk', 'Pending', undefined, false), uploadFailure: failure }), opts);
    expect(starting.status.conditions?.find((c) => c.type === 'Running')?.message).not.toBe(failure);
  });
});

describe('reconcileDataVolume: host-assisted clone', () => {
  const cloneSpec: DataVolumeSpec = { source: { pvc: { namespace: 'golden', name: 'base' } }, storage: {} };
  const source: V1PersistentVolumeClaim = {
    metadata: { name: 'base', namespace: 'golden', uid: 'src-uid' },
    spec: { resources: { requests: { storage: '2Gi' } }, volumeMode: 'Filesystem' },
    status: { phase: 'Bound' },
  };

  it('waits for the source, then sizes the target from it', () => {
    const missing = reconcileDataVolume(dv(cloneSpec), observed({ sourcePvc: null }), opts);
    expect(missing.status.phase).toBe('Pending');
    expect(cond(missing, 'Running')).toMatchObject({ reason: 'CloneWithoutSource', message: "The source pvc base doesn't exist" });
    expect(missing.actions).toContainEqual({ kind: 'event', type: 'Warning', reason: 'CloneWithoutSource', message: "The source pvc base doesn't exist" });
    const stillMissing = reconcileDataVolume({ ...dv(cloneSpec), status: missing.status }, observed({ sourcePvc: null }), opts);
    expect(stillMissing.actions.filter((a) => a.kind === 'event')).toEqual([]);
    const r = reconcileDataVolume(dv(cloneSpec), observed({ sourcePvc: source }), opts);
    const create = r.actions.find((a) => a.kind === 'createClaim');
    expect(create?.kind === 'createClaim' && create.claim.spec?.resources?.requests?.storage).toBe('2Gi');
  });

  it('runs the target upload server with the clone CN, then the source pod, and follows it', () => {
    const d = dv(cloneSpec, { phase: 'CloneScheduled' });
    const pvc = claimFor(dv({ ...cloneSpec, storage: { resources: { requests: { storage: '2Gi' } } } }));
    const base = { pvc, sourcePvc: source, secretExists: true };
    const first = reconcileDataVolume(d, observed(base), opts);
    const server = first.actions.find((a) => a.kind === 'createPod');
    const env = server?.kind === 'createPod' ? server.pod.spec?.containers[0]?.env : [];
    expect(env?.find((e) => e.name === 'CLIENT_NAME')?.value).toBe('golden/base-ns/disk');
    const ready = { ...base, pod: pod('cdi-upload-disk', 'Running', running(), true), uploadUrl: 'https://127.0.0.1:4443/v1beta1/upload' };
    const second = reconcileDataVolume(d, observed(ready), opts);
    expect(second.actions.find((a) => a.kind === 'clientCert')).toMatchObject({ namespace: 'golden', secret: 'pvc-uid-source-pod', commonName: 'golden/base-ns/disk' });
    const third = reconcileDataVolume(d, observed({ ...ready, cloneSecretExists: true }), opts);
    const cloner = third.actions.find((a) => a.kind === 'createPod');
    expect(cloner?.kind === 'createPod' && cloner.pod.metadata).toMatchObject({ name: 'pvc-uid-source-pod', namespace: 'golden' });
    const inProgress = reconcileDataVolume(d, observed({ ...ready, cloneSecretExists: true, clonerPod: pod('pvc-uid-source-pod', 'Running', running()) }), opts);
    expect(inProgress.status.phase).toBe('CloneInProgress');
    const done = reconcileDataVolume(
      dv(cloneSpec, { phase: 'CloneInProgress' }),
      observed({ ...ready, pod: pod('cdi-upload-disk', 'Succeeded', completed('{"message":"Clone Complete"}')), cloneSecretExists: true }),
      opts,
    );
    expect(done.status.phase).toBe('Succeeded');
    expect(done.actions.find((a) => a.kind === 'event')).toMatchObject({ reason: 'CloneSucceeded' });
  });
});
