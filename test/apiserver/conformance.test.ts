import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podLogPath } from '../../src/node/layout.ts';
import { kubectlPath, machineKubectl, runKubectl } from '../support/kubectl.ts';
import { kubectl132Bodies } from '../support/kubectl-protobuf-bodies.ts';
import { dataVolume, rawRequest as request, startHarness, type Harness } from './harness.ts';

/**
 * The API as clients nobody here wrote see it: Debian's python3-kubernetes, the project's kubectl
 * 1.20 and the machine's kubectl (1.32, which sends protobuf), plus raw requests for the bodies no
 * client sends on purpose. Every refusal is a Kubernetes Status with the right code, and nothing
 * of a refused request is stored.
 */
const run = promisify(execFile);
const python = '/usr/bin/python3';
const driver = path.join(import.meta.dirname, 'python/conformance.py');

describe('API conformance with real clients', () => {
  let h: Harness;
  let kc: string;
  beforeAll(async () => {
    await kubectlPath();
    h = await startHarness();
    kc = h.server.kubeconfigPath;
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function py(scenario: string, namespace: string): Promise<Record<string, unknown>> {
    const { stdout } = await run(python, [driver, kc, scenario, namespace], { timeout: 60_000 });
    return JSON.parse(stdout) as Record<string, unknown>;
  }

  describe("Debian's python3-kubernetes", () => {
    it('does CRUD and every patch type on Secrets: stringData lands base64 in data and is never stored; bad base64 and immutable data refused', async () => {
      const r = await py('crud', 'py-crud');
      expect(r).toMatchObject({
        createdData: ['accessKeyId', 'secretKey'],
        createdHasStringData: false,
        replacedSecretKey: 'rotated',
        strategicKeys: ['accessKeyId', 'region', 'secretKey'],
        jsonPatchKeys: ['accessKeyId', 'region', 'secretKey', 'token'],
        mergeLabels: { patched: 'merge' },
        storedData: { accessKeyId: 'AKIA', secretKey: 'rotated', region: 'us', token: 't' },
        storedHasStringData: false,
        type: 'Opaque',
        badBase64: { status: 400, reason: 'BadRequest', kind: 'Status', message: 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3' },
        badStored: true,
        immutableData: { status: 422, reason: 'Invalid', message: 'ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set' },
        immutableFlag: { status: 422, reason: 'Invalid', message: 'ConfigMap "frozen" is invalid: immutable: Forbidden: field is immutable when `immutable` is set' },
        relabeled: { still: 'patchable' },
        deleted: { status: 404, reason: 'NotFound', message: 'secrets "creds" not found' },
      });
    });

    it('lists with equality, set-based and field selectors, and pages with limit/continue', async () => {
      const r = await py('selectors', 'py-sel');
      expect(r).toMatchObject({
        equality: ['a', 'd'],
        inequality: ['b', 'c'],
        setIn: ['b', 'c'],
        setNotIn: ['b'],
        exists: ['a', 'b'],
        notExists: ['c', 'd'],
        field: ['b'],
        fieldNot: ['a', 'c', 'd'],
        combined: ['d'],
        pages: [['a', 'b', 'c'], ['d']],
        badSelector: { status: 400, reason: 'BadRequest' },
        badMatch: {
          status: 422,
          reason: 'Invalid',
          message: 'ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided',
        },
      });
    });

    it('watches from a resourceVersion (the client sends watch=True)', async () => {
      const r = await py('watch', 'py-watch');
      expect(r.events).toEqual([
        ['MODIFIED', 'w1', '2'],
        ['ADDED', 'w2', null],
        ['DELETED', 'w2', null],
      ]);
    });

    it('deletes with Orphan, Foreground and Background propagation, from the query and from a DeleteOptions body', async () => {
      const r = await py('delete', 'py-del');
      expect(r.foregroundFinalizers).toEqual(['foregroundDeletion']);
      expect(r.badPolicy).toMatchObject({ status: 422, reason: 'Invalid', message: expect.stringContaining('propagationPolicy: Unsupported value: "Sometime"') });
      expect(r.dryRunStatus).toBe('Success');
      expect(r.orphanChildOwners ?? []).toEqual([]);
      await h.core.readNamespacedConfigMap({ namespace: 'py-del', name: 'orphan-child' });
    });
  });

  const clients: Array<[string, () => Promise<string>]> = [['kubectl 1.20 (project)', kubectlPath]];
  if (machineKubectl) clients.push([`the machine's kubectl (${machineKubectl})`, async () => machineKubectl!]);

  describe.each(clients)('%s', (label, binary) => {
    const ns = label.startsWith('kubectl 1.20') ? 'kubectl-old' : 'kubectl-new';

    it('creates a namespace, a generic Secret and a ConfigMap, as CDI docs do for source credentials', async () => {
      const bin = await binary();
      const k = (...args: string[]) => runKubectl(bin, kc, undefined, ...args);
      expect(await k('create', 'namespace', ns)).toMatchObject({ code: 0 });
      expect(await k('-n', ns, 'create', 'secret', 'generic', 'endpoint-secret', '--from-literal=accessKeyId=AKIA', '--from-literal=secretKey=s3cr3t')).toMatchObject({ code: 0 });
      expect(await k('-n', ns, 'create', 'configmap', 'cert', '--from-literal=ca.pem=PEM')).toMatchObject({ code: 0 });
      const secret = await h.core.readNamespacedSecret({ namespace: ns, name: 'endpoint-secret' });
      expect(secret.data).toEqual({ accessKeyId: Buffer.from('AKIA').toString('base64'), secretKey: Buffer.from('s3cr3t').toString('base64') });
      expect(secret.type).toBe('Opaque');
      expect((await h.core.readNamespacedConfigMap({ namespace: ns, name: 'cert' })).data).toEqual({ 'ca.pem': 'PEM' });
      const got = await k('-n', ns, 'get', 'secret', 'endpoint-secret', '-o', 'jsonpath={.data.secretKey}');
      expect(Buffer.from(got.stdout, 'base64').toString()).toBe('s3cr3t');
      expect(await k('-n', ns, 'delete', 'configmap', 'cert')).toMatchObject({ code: 0 });
    });

    it('waits for a pod condition and reads its logs', async () => {
      const bin = await binary();
      const k = (...args: string[]) => runKubectl(bin, kc, undefined, ...args);
      await h.core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'importer' }, spec: { containers: [{ name: 'importer', image: 'cdi-importer' }] } } });
      const waiting = k('-n', ns, 'wait', '--for=condition=Ready', 'pod/importer', '--timeout=30s');
      const pod = await h.core.readNamespacedPod({ namespace: ns, name: 'importer' });
      await h.core.replaceNamespacedPodStatus({
        namespace: ns,
        name: 'importer',
        body: { ...pod, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: new Date() }] } },
      });
      expect(await waiting).toMatchObject({ code: 0, stdout: expect.stringContaining('condition met') });
      const file = podLogPath(h.dataDir, ns, 'importer', 'importer');
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, 'Validating image\nImport complete\n');
      expect(await k('-n', ns, 'logs', 'importer')).toMatchObject({ code: 0, stdout: 'Validating image\nImport complete\n' });
      // metav1.Time: whole seconds, whatever precision the writer sent (client-node sends milliseconds).
      const stored = await request(h, 'GET', `/api/v1/namespaces/${ns}/pods/importer`, '', 'application/json');
      expect((stored.body.status as { conditions: Array<{ lastTransitionTime: string }> }).conditions[0]!.lastTransitionTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });
  });

  describe('bad input: a Status with the right code, nothing stored', () => {
    it('answers 400 for malformed protobuf (cut short, wrong wire type, length past the end) and stores nothing', async () => {
      const secret = Buffer.from(kubectl132Bodies.secret, 'hex');
      const before = (await h.core.listNamespacedSecret({ namespace: 'default' })).items.length;
      const bodies = [
        secret.subarray(0, secret.length - 7),
        Buffer.concat([secret.subarray(0, 4), Buffer.from([0x08, 0x01])]),
        Buffer.concat([secret.subarray(0, 4), Buffer.from([0x12, 0x7f, 0x0a])]),
        Buffer.from('k8s\0\xff'),
      ];
      for (const body of bodies) {
        const r = await request(h, 'POST', '/api/v1/namespaces/default/secrets', body, 'application/vnd.kubernetes.protobuf');
        expect(r.code).toBe(400);
        expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400 });
        expect(String(r.body.message)).toMatch(/^the body of the request could not be decoded as application\/vnd.kubernetes.protobuf: /);
      }
      expect((await h.core.listNamespacedSecret({ namespace: 'default' })).items.length).toBe(before);
      const good = await request(h, 'POST', '/api/v1/namespaces/default/secrets', secret, 'application/vnd.kubernetes.protobuf');
      expect(good).toMatchObject({ code: 201, body: { kind: 'Secret', metadata: { name: 'creds' }, data: { empty: '' } } });
    });

    it('answers 415 for a protobuf body to a custom resource and stores nothing', async () => {
      const dv = Buffer.from(JSON.stringify(dataVolume('proto-dv')));
      const r = await request(h, 'POST', '/apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes', Buffer.concat([Buffer.from('k8s\0'), dv]), 'application/vnd.kubernetes.protobuf');
      expect(r).toMatchObject({ code: 415, body: { kind: 'Status', reason: 'UnsupportedMediaType', code: 415 } });
      const list = (await h.custom.listNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes', namespace: 'default' })) as { items: unknown[] };
      expect(list.items).toEqual([]);
    });

    it('answers 400 for invalid base64 in data and unparsable quantities, 422 for bad dryRun, storing nothing', async () => {
      const bad = await request(h, 'POST', '/api/v1/namespaces/default/configmaps', JSON.stringify({ metadata: { name: 'bin' }, binaryData: { k: 'YQ' } }), 'application/json');
      expect(bad).toMatchObject({ code: 400, body: { reason: 'BadRequest', message: 'ConfigMap in version "v1" cannot be handled as a ConfigMap: illegal base64 data at input byte 0' } });
      const pvc = { metadata: { name: 'q' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1GB' } } } };
      const quantity = await request(h, 'POST', '/api/v1/namespaces/default/persistentvolumeclaims', JSON.stringify(pvc), 'application/json');
      expect(quantity).toMatchObject({ code: 400, body: { reason: 'BadRequest', message: expect.stringContaining('quantities must match the regular expression') } });
      const dry = await request(h, 'POST', '/api/v1/namespaces/default/configmaps?dryRun=Some', JSON.stringify({ metadata: { name: 'dry' } }), 'application/json');
      expect(dry).toMatchObject({ code: 422, body: { reason: 'Invalid', message: 'CreateOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: []string{"Some"}: supported values: "All"' } });
      const names = (await h.core.listNamespacedConfigMap({ namespace: 'default' })).items.map((i) => i.metadata?.name);
      expect(names).not.toContain('bin');
      expect(names).not.toContain('dry');
      expect((await h.core.listNamespacedPersistentVolumeClaim({ namespace: 'default' })).items).toEqual([]);
    });

    it('stores built-in quantities canonically and keeps generation for custom resources only', async () => {
      const pvc = { metadata: { name: 'canon' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1024Mi' } } } };
      const created = await h.core.createNamespacedPersistentVolumeClaim({ namespace: 'default', body: pvc });
      expect(created.spec?.resources?.requests?.storage).toBe('1Gi');
      expect(created.metadata?.generation).toBeUndefined();
      const dv = (await h.custom.createNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes', namespace: 'default', body: dataVolume('gen') })) as {
        metadata: { generation: number; creationTimestamp: string };
      };
      expect(dv.metadata.generation).toBe(1);
      expect(dv.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });
  });
});
