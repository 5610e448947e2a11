import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curlApi, type CurlResult } from './curl.ts';
import { startHarness, type Harness } from './harness.ts';

/**
 * Every write is checked against its kind's schema before it is stored (issue 20's poison
 * writes, issue 13's fieldValidation), driven with curl so statuses and headers are the wire's.
 */
const ns = 'default';
const handled = (kind: string, version = 'v1') => `${kind} in version "${version}" cannot be handled as a ${kind}`;

interface BadCase {
  kind: string;
  collection: string;
  body: Record<string, unknown>;
  code: number;
  message: string;
}

const badInput: BadCase[] = [
  {
    kind: 'Namespace',
    collection: '/api/v1/namespaces',
    body: { metadata: { name: 'bad-ns' }, spec: [] },
    code: 400,
    message: `${handled('Namespace')}: json: cannot unmarshal array into Go struct field Namespace.spec of type v1.NamespaceSpec`,
  },
  {
    kind: 'PersistentVolumeClaim',
    collection: `/api/v1/namespaces/${ns}/persistentvolumeclaims`,
    body: { metadata: { name: 'bad-pvc' }, spec: { accessModes: 'ReadWriteOnce', resources: { requests: { storage: '1Gi' } } } },
    code: 400,
    message: `${handled('PersistentVolumeClaim')}: json: cannot unmarshal string into Go struct field PersistentVolumeClaimSpec.spec.accessModes of type []v1.PersistentVolumeAccessMode`,
  },
  {
    kind: 'Pod',
    collection: `/api/v1/namespaces/${ns}/pods`,
    body: { metadata: { name: 'bad-pod' }, spec: { containers: 'importer' } },
    code: 400,
    message: `${handled('Pod')}: json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type []v1.Container`,
  },
  {
    kind: 'Service',
    collection: `/api/v1/namespaces/${ns}/services`,
    body: { metadata: { name: 'bad-svc' }, spec: { ports: [{ port: '80' }] } },
    code: 400,
    message: `${handled('Service')}: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32`,
  },
  {
    kind: 'Secret',
    collection: `/api/v1/namespaces/${ns}/secrets`,
    body: { metadata: { name: 'bad-secret' }, data: { accessKeyId: 5 } },
    code: 400,
    message: `${handled('Secret')}: json: cannot unmarshal number into Go struct field Secret.data of type []uint8`,
  },
  {
    kind: 'ConfigMap',
    collection: `/api/v1/namespaces/${ns}/configmaps`,
    body: { metadata: { name: 'bad-cm' }, data: { 'ca.pem': 1 } },
    code: 400,
    message: `${handled('ConfigMap')}: json: cannot unmarshal number into Go struct field ConfigMap.data of type string`,
  },
  {
    kind: 'Event',
    collection: `/api/v1/namespaces/${ns}/events`,
    body: { metadata: { name: 'bad-ev' }, involvedObject: { kind: 'Pod', name: 'x' }, count: '3' },
    code: 400,
    message: `${handled('Event')}: json: cannot unmarshal string into Go struct field Event.count of type int32`,
  },
  {
    kind: 'StorageClass',
    collection: '/apis/storage.k8s.io/v1/storageclasses',
    body: { metadata: { name: 'bad-sc' }, provisioner: 'local', parameters: ['a'] },
    code: 400,
    message: `${handled('StorageClass')}: json: cannot unmarshal array into Go struct field StorageClass.parameters of type map[string]string`,
  },
  {
    kind: 'Lease',
    collection: `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`,
    body: { metadata: { name: 'bad-lease' }, spec: { leaseDurationSeconds: '15' } },
    code: 400,
    message: `${handled('Lease')}: json: cannot unmarshal string into Go struct field LeaseSpec.spec.leaseDurationSeconds of type int32`,
  },
  {
    kind: 'DataVolume',
    collection: `/apis/cdi.kubevirt.io/v1beta1/namespaces/${ns}/datavolumes`,
    body: { metadata: { name: 'bad-dv' }, spec: { source: { http: { url: 5 } }, storage: { resources: { requests: { storage: '1Gi' } } } } },
    code: 422,
    message: 'DataVolume.cdi.kubevirt.io "bad-dv" is invalid: spec.source.http.url: Invalid value: "integer": spec.source.http.url in body must be of type string: "integer"',
  },
  {
    kind: 'VirtualMachine',
    collection: `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines`,
    body: { metadata: { name: 'bad-vm' }, spec: 'running' },
    code: 422,
    message: 'VirtualMachine.kubevirt.io "bad-vm" is invalid: spec: Invalid value: "string": spec in body must be of type object: "string"',
  },
];

describe('schema checks on every write', () => {
  let h: Harness;
  const api = (method: string, path: string, body?: unknown, contentType?: string): Promise<CurlResult> =>
    curlApi(h.server, method, path, { ...(body !== undefined ? { body } : {}), ...(contentType ? { contentType } : {}) });

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.stop();
  });

  it.each(badInput)('refuses a wrong-typed $kind and stores nothing', async ({ collection, body, code, message }) => {
    const res = await api('POST', collection, body);
    expect(res.status).toBe(code);
    expect(res.json()).toMatchObject({ kind: 'Status', status: 'Failure', code, reason: code === 400 ? 'BadRequest' : 'Invalid', message });
    const name = (body.metadata as { name: string }).name;
    expect((await api('GET', `${collection}/${name}`)).status).toBe(404);
  });

  it('checks UploadTokenRequest, which is answered and never stored, the same way', async () => {
    const res = await api('POST', `/apis/upload.cdi.kubevirt.io/v1beta1/namespaces/${ns}/uploadtokenrequests`, { metadata: { name: 'bad-utr' }, spec: { pvcName: 5 } });
    expect(res.status).toBe(400);
    expect(res.json().message).toBe(
      `${handled('UploadTokenRequest', 'v1beta1')}: json: cannot unmarshal number into Go struct field UploadTokenRequestSpec.spec.pvcName of type string`,
    );
  });

  it('refuses the pods that used to poison the controller (containers: [null], volumes: {}) and keeps serving', async () => {
    const nullContainer = await api('POST', `/api/v1/namespaces/${ns}/pods`, { metadata: { name: 'null-container' }, spec: { containers: [null] } });
    expect(nullContainer.status).toBe(422);
    expect(nullContainer.json().message).toBe('Pod "null-container" is invalid: spec.containers[0].name: Required value');
    const volumeMap = await api('POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'volume-map' },
      spec: { containers: [{ name: 'c', image: 'quay.io/kubevirt/cdi-importer' }], volumes: { data: { emptyDir: {} } } },
    });
    expect(volumeMap.status).toBe(400);
    expect(volumeMap.json().message).toBe(`${handled('Pod')}: json: cannot unmarshal object into Go struct field PodSpec.spec.volumes of type []v1.Volume`);
    const pods = (await api('GET', `/api/v1/namespaces/${ns}/pods`)).json() as { items: unknown[] };
    expect(pods.items).toEqual([]);
    const pvc = await api('POST', `/api/v1/namespaces/${ns}/persistentvolumeclaims`, {
      metadata: { name: 'after-poison' },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
    });
    expect(pvc.status).toBe(201);
  });

  it('fieldValidation: Strict refuses unknown fields, Warn (the default) drops them with a 299 warning, Ignore drops them silently', async () => {
    const cm = (name: string) => ({ metadata: { name }, data: { a: 'b' }, extra: 1, nested: { x: true } });
    const base = `/api/v1/namespaces/${ns}/configmaps`;

    const strict = await api('POST', `${base}?fieldValidation=Strict`, cm('fv-strict'));
    expect(strict.status).toBe(400);
    expect(strict.json().message).toBe(`${handled('ConfigMap')}: strict decoding error: unknown field "extra", unknown field "nested"`);
    expect((await api('GET', `${base}/fv-strict`)).status).toBe(404);

    const warned = await api('POST', base, cm('fv-warn'));
    expect(warned.status).toBe(201);
    expect(warned.headers.warning).toEqual(['299 - "unknown field \\"extra\\""', '299 - "unknown field \\"nested\\""']);
    expect(warned.json()).not.toHaveProperty('extra');
    expect((await api('GET', `${base}/fv-warn`)).json()).toMatchObject({ data: { a: 'b' } });
    expect((await api('GET', `${base}/fv-warn`)).json()).not.toHaveProperty('nested');

    const ignored = await api('POST', `${base}?fieldValidation=Ignore`, cm('fv-ignore'));
    expect(ignored.status).toBe(201);
    expect(ignored.headers.warning).toBeUndefined();
    expect(ignored.json()).not.toHaveProperty('extra');

    const bogus = await api('POST', `${base}?fieldValidation=Loud`, cm('fv-bogus'));
    expect(bogus.status).toBe(400);
    expect(bogus.json().message).toBe('fieldValidation: Unsupported value: "Loud": supported values: "Ignore", "Strict", "Warn"');
  });

  it('reports repeated keys as duplicate fields (Strict refuses, Warn keeps the last with a warning)', async () => {
    const base = `/api/v1/namespaces/${ns}/configmaps`;
    const text = (name: string) => `{"metadata":{"name":"${name}"},"data":{"a":"1","a":"2"},"extra":true}`;
    const strict = await api('POST', `${base}?fieldValidation=Strict`, text('dup-strict'));
    expect(strict.status).toBe(400);
    expect(strict.json().message).toBe(`${handled('ConfigMap')}: strict decoding error: duplicate field "data.a", unknown field "extra"`);
    expect((await api('GET', `${base}/dup-strict`)).status).toBe(404);
    const warned = await api('POST', base, text('dup-warn'));
    expect(warned.status).toBe(201);
    expect(warned.headers.warning).toEqual(['299 - "duplicate field \\"data.a\\""', '299 - "unknown field \\"extra\\""']);
    expect(warned.json().data).toEqual({ a: '2' });
  });

  it('checks unknown fields at every depth, with list indexes, and keeps the subtrees Kubernetes keeps (affinity, VM spec)', async () => {
    const pod = {
      metadata: { name: 'deep' },
      spec: {
        containers: [{ name: 'c', image: 'quay.io/kubevirt/cdi-importer', env: [{ name: 'A', value: 'x', valu: 'typo' }] }],
        affinity: { nodeAffinity: { anything: ['kept'] } },
      },
    };
    const strict = await api('POST', `/api/v1/namespaces/${ns}/pods?fieldValidation=Strict`, pod);
    expect(strict.status).toBe(400);
    expect(strict.json().message).toBe(`${handled('Pod')}: strict decoding error: unknown field "spec.containers[0].env[0].valu"`);
    const created = await api('POST', `/api/v1/namespaces/${ns}/pods`, pod);
    expect(created.status).toBe(201);
    expect(created.headers.warning).toEqual(['299 - "unknown field \\"spec.containers[0].env[0].valu\\""']);
    expect(created.json()).toMatchObject({ spec: { containers: [{ env: [{ name: 'A', value: 'x' }] }], affinity: { nodeAffinity: { anything: ['kept'] } } } });

    const vm = { metadata: { name: 'kept-vm' }, spec: { runStrategy: 'Halted', template: { spec: { domain: { devices: {} }, anyField: 1 } } } };
    const createdVm = await api('POST', `/apis/kubevirt.io/v1/namespaces/${ns}/virtualmachines?fieldValidation=Strict`, vm);
    expect(createdVm.status).toBe(201);
    expect(createdVm.json().spec).toEqual(vm.spec);
  });

  it('checks updates, every patch type and status writes, and leaves the stored object as it was', async () => {
    const base = `/api/v1/namespaces/${ns}/services`;
    const created = (await api('POST', base, { metadata: { name: 'svc' }, spec: { ports: [{ port: 80 }] } })).json() as { metadata: { resourceVersion: string } };
    const rv = created.metadata.resourceVersion;
    const message = `${handled('Service')}: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32`;

    const put = await api('PUT', `${base}/svc`, { metadata: { name: 'svc' }, spec: { ports: [{ port: 'eighty' }] } });
    expect([put.status, put.json().message]).toEqual([400, message]);
    const merge = await api('PATCH', `${base}/svc`, { spec: { ports: [{ port: 'eighty' }] } }, 'application/merge-patch+json');
    expect([merge.status, merge.json().message]).toEqual([400, message]);
    const json = await api('PATCH', `${base}/svc`, [{ op: 'replace', path: '/spec/ports/0/port', value: 'eighty' }], 'application/json-patch+json');
    expect([json.status, json.json().message]).toEqual([400, message]);
    const strategic = await api('PATCH', `${base}/svc`, { spec: { ports: [{ port: 80, nodePort: 'x' }] } }, 'application/strategic-merge-patch+json');
    expect(strategic.status).toBe(400);
    expect(strategic.json().message).toBe(`${handled('Service')}: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.nodePort of type int32`);
    const status = await api('PATCH', `${base}/svc/status`, { status: { loadBalancer: { ingress: 'x' } } }, 'application/merge-patch+json');
    expect(status.status).toBe(400);
    expect(status.json().message).toBe(
      `${handled('Service')}: json: cannot unmarshal string into Go struct field LoadBalancerStatus.status.loadBalancer.ingress of type []v1.LoadBalancerIngress`,
    );
    const strictPatch = await api('PATCH', `${base}/svc?fieldValidation=Strict`, { spec: { colour: 'blue' } }, 'application/merge-patch+json');
    expect([strictPatch.status, strictPatch.json().message]).toEqual([400, `${handled('Service')}: strict decoding error: unknown field "spec.colour"`]);

    const after = (await api('GET', `${base}/svc`)).json() as { metadata: { resourceVersion: string }; spec: unknown };
    expect(after.metadata.resourceVersion).toBe(rv);
    expect(after.spec).toEqual({ ports: [{ port: 80 }] });
  });

  it('answers a CRD with every wrong field and missing required field as 422 causes', async () => {
    const res = await api('POST', `/apis/cdi.kubevirt.io/v1beta1/namespaces/${ns}/datavolumes`, {
      metadata: { name: 'many' },
      spec: { source: { http: {} }, storage: { accessModes: 'ReadWriteOnce' }, preallocation: 'yes' },
    });
    expect(res.status).toBe(422);
    const body = res.json() as { message: string; details: { causes: unknown[] } };
    expect(body.message).toBe(
      'DataVolume.cdi.kubevirt.io "many" is invalid: [spec.source.http.url: Required value, ' +
        'spec.storage.accessModes: Invalid value: "string": spec.storage.accessModes in body must be of type array: "string", ' +
        'spec.preallocation: Invalid value: "string": spec.preallocation in body must be of type boolean: "string"]',
    );
    expect(body.details.causes).toEqual([
      { reason: 'FieldValueRequired', message: 'Required value', field: 'spec.source.http.url' },
      expect.objectContaining({ reason: 'FieldValueTypeInvalid', field: 'spec.storage.accessModes' }),
      expect.objectContaining({ reason: 'FieldValueTypeInvalid', field: 'spec.preallocation' }),
    ]);
  });
});
