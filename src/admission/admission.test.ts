import { describe, expect, it } from 'vitest';
import type { AccessCheck } from '../api/clone-authorization.ts';
import { jsonPatch } from '../apiserver/patch.ts';
import { AdmissionEndpoints, answerAdmissionReview, type AdmissionBackends } from './endpoints.ts';
import type { AdmissionRequest } from './review.ts';
import { diffJson } from './review.ts';

const dvResource = { group: 'cdi.kubevirt.io', version: 'v1beta1', resource: 'datavolumes' };
const pvcResource = { group: '', version: 'v1', resource: 'persistentvolumeclaims' };
const storage = { resources: { requests: { storage: '1Gi' } } };
const grants: AccessCheck[] = [];
const backends: AdmissionBackends = {
  dataVolumes: { getPvc: async (ns, name) => (ns === 'team' && name === 'taken' ? { metadata: {} } : undefined) },
  cloneAccess: {
    canI: async (user, check) => user.username === 'alice' && grants.some((g) => g.namespace === check.namespace && g.resource === check.resource && g.subresource === check.subresource),
    getDataSource: async () => undefined,
  },
  profiles: {
    getStorageProfile: async (name) => (name === 'fast' ? { spec: {}, status: { claimPropertySets: [{ accessModes: ['ReadWriteMany'], volumeMode: 'Block' }] } } : name === 'local' ? { status: { claimPropertySets: [{ accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' }] } } : undefined),
    defaultStorageClass: async () => 'local',
    getConfig: async () => undefined,
  },
};

const review = (request: Partial<AdmissionRequest>) => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: { uid: 'u-1', kind: { group: 'cdi.kubevirt.io', version: 'v1beta1', kind: 'DataVolume' }, resource: dvResource, namespace: 'team', operation: 'CREATE', userInfo: { username: 'alice', groups: ['system:authenticated'] }, ...request },
});
const call = (path: string, body: unknown) => answerAdmissionReview(AdmissionEndpoints[path]!, body, backends);
const dv = (name: string, spec: object) => ({ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name, namespace: 'team' }, spec });

describe('CDI admission webhooks over AdmissionReview', () => {
  it('validates a DataVolume with upstream texts, answering 422 with the causes and the request uid', async () => {
    const ok = await call('/datavolume-validate', review({ object: dv('a', { source: { blank: {} }, storage }) }));
    expect(ok).toEqual({ httpStatus: 200, review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'u-1', allowed: true } } });
    const bad = await call('/datavolume-validate', review({ object: dv('b', { storage }) }));
    expect(bad.review.response).toEqual({
      uid: 'u-1',
      allowed: false,
      status: { code: 422, message: ' Data volume should have either Source or SourceRef, or be externally populated', details: { causes: [{ reason: 'FieldValueInvalid', message: 'Data volume should have either Source or SourceRef, or be externally populated', field: 'spec.source' }] } },
    });
    const taken = await call('/datavolume-validate', review({ object: dv('taken', { source: { blank: {} }, storage }) }));
    expect(taken.review.response?.status?.message).toBe(' Destination PVC team/taken already exists');
  });

  it('refuses what is not a review of a DataVolume: garbage, no request, no object, wrong resource or kind', async () => {
    const garbage = await call('/datavolume-validate', '{"apiVersion": admission');
    expect(garbage.httpStatus).toBe(400);
    expect(garbage.review.response).toMatchObject({ uid: '', allowed: false, status: { code: 400 } });
    expect(garbage.review.response?.status?.message).toMatch(/^couldn't decode the AdmissionReview: /);
    expect((await call('/datavolume-validate', { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' })).review.response?.status).toEqual({ code: 400, message: 'AdmissionReview.Request is nil' });
    expect((await call('/datavolume-validate', { apiVersion: 'v1', kind: 'Pod' })).review.response?.status?.message).toBe('expected admission.k8s.io/v1 AdmissionReview, got v1 Pod');
    const noObject = await call('/datavolume-validate', review({}));
    expect(noObject).toEqual({ httpStatus: 200, review: expect.objectContaining({ response: { uid: 'u-1', allowed: false, status: { code: 400, message: 'AdmissionReview.request.object is missing' } } }) });
    const wrongResource = await call('/datavolume-mutate', review({ resource: pvcResource, object: {} }));
    expect(wrongResource.review.response?.status).toEqual({ code: 400, message: "expect resource to be 'datavolumes'" });
    const wrongKind = await call('/datavolume-validate', review({ object: { kind: 'Pod', metadata: { name: 'p' } } }));
    expect(wrongKind.review.response?.status).toEqual({ code: 400, message: 'expected a DataVolume object, got Pod' });
    const noOld = await call('/datavolume-validate', review({ operation: 'UPDATE', object: dv('a', { source: { blank: {} }, storage }) }));
    expect(noOld.review.response?.status?.message).toBe('AdmissionReview.request.oldObject is missing');
  });

  it('authorizes a cross-namespace clone for the requesting user by datavolumes/source, else pods, in the source namespace', async () => {
    const clone = dv('copy', { source: { pvc: { namespace: 'golden', name: 'disk' } }, storage });
    const denied = await call('/datavolume-mutate', review({ object: clone }));
    expect(denied.review.response).toEqual({
      uid: 'u-1',
      allowed: false,
      status: { code: 422, message: ' User alice has insufficient permissions in clone source namespace golden', details: { causes: [{ reason: 'FieldValueInvalid', message: 'User alice has insufficient permissions in clone source namespace golden', field: 'spec.source.PVC.namespace' }] } },
    });
    grants.push({ namespace: 'golden', verb: 'create', group: 'cdi.kubevirt.io', resource: 'datavolumes', subresource: 'source', name: 'disk' });
    expect((await call('/datavolume-mutate', review({ object: clone }))).review.response).toEqual({ uid: 'u-1', allowed: true });
    const bob = await call('/datavolume-mutate', review({ object: clone, userInfo: { username: 'bob' } }));
    expect(bob.review.response?.status?.message).toBe(' User bob has insufficient permissions in clone source namespace golden');
    const sameNamespace = await call('/datavolume-mutate', review({ object: dv('c', { source: { pvc: { namespace: 'team', name: 'disk' } }, storage }), userInfo: { username: 'bob' } }));
    expect(sameNamespace.review.response?.allowed).toBe(true);
  });

  it('renders a labelled PVC from its StorageProfile as a JSONPatch, and leaves others alone', async () => {
    const pvc = (labels: Record<string, string>, spec: object) => ({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'p', namespace: 'team', labels }, spec });
    const pvcReview = (object: object) => review({ kind: { group: '', version: 'v1', kind: 'PersistentVolumeClaim' }, resource: pvcResource, object });
    const labelled = pvc({ 'cdi.kubevirt.io/applyStorageProfile': 'true' }, { storageClassName: 'fast', resources: { requests: { storage: '1Gi' } } });
    const answer = (await call('/pvc-mutate', pvcReview(labelled))).review.response!;
    expect(answer).toMatchObject({ uid: 'u-1', allowed: true, patchType: 'JSONPatch' });
    const patched = jsonPatch(labelled as never, JSON.parse(Buffer.from(answer.patch!, 'base64').toString())) as { spec: object };
    expect(patched.spec).toEqual({ storageClassName: 'fast', resources: { requests: { storage: '1Gi' } }, accessModes: ['ReadWriteMany'], volumeMode: 'Block' });
    const byDefault = pvc({ 'cdi.kubevirt.io/applyStorageProfile': 'true' }, { resources: { requests: { storage: '1Gi' } } });
    const defaulted = (await call('/pvc-mutate', pvcReview(byDefault))).review.response!;
    const rendered = jsonPatch(byDefault as never, JSON.parse(Buffer.from(defaulted.patch!, 'base64').toString())) as { spec: { resources: { requests: { storage: string } } } };
    expect(rendered.spec).toMatchObject({ storageClassName: 'local', accessModes: ['ReadWriteOnce'], volumeMode: 'Filesystem' });
    // 1 GiB grows by the default 6 % filesystem overhead: ceil(1073741824 / 0.94).
    expect(rendered.spec.resources.requests.storage).toBe('1142278537');
    expect((await call('/pvc-mutate', pvcReview(pvc({}, { resources: { requests: { storage: '1Gi' } } })))).review.response).toEqual({ uid: 'u-1', allowed: true });
    const unknownClass = await call('/pvc-mutate', pvcReview(pvc({ 'cdi.kubevirt.io/applyStorageProfile': 'true' }, { storageClassName: 'none', resources: { requests: { storage: '1Gi' } } })));
    expect(unknownClass.review.response?.status).toEqual({ code: 400, message: 'no accessMode specified in StorageProfile none' });
  });

  it('diffs JSON into an RFC 6902 patch that jsonPatch applies back', () => {
    const from = { a: 1, 'b/c': { d: [1, 2], 'e~f': 'x' }, gone: true };
    const to = { a: 2, 'b/c': { d: [1, 2, 3], 'e~f': 'x', n: null }, added: { z: 1 } };
    const ops = diffJson(from, to);
    expect(ops).toContainEqual({ op: 'replace', path: '/b~1c/d', value: [1, 2, 3] });
    expect(jsonPatch(from, ops as never)).toEqual(to);
  });
});
