import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JsonSchema } from '../../src/api/schema.ts';
import { kinds } from '../../src/apiserver/kinds.ts';
import { kubectl, kubectlPath, kubectlWithInput, machineKubectl, runKubectl } from '../support/kubectl.ts';
import { curlApi } from './curl.ts';
import { startHarness, type Harness } from './harness.ts';

/**
 * /openapi/v2 and /openapi/v3 as kubectl uses them: explain, client-side validation (1.20, from
 * the protobuf document), server-side strict validation (1.32, which looks for fieldValidation
 * in the v3 document), and every manifest the README applies.
 */
type Doc = Record<string, unknown> & { definitions?: Record<string, JsonSchema & Record<string, unknown>>; paths: Record<string, Record<string, { parameters?: Array<{ name: string }> } & Record<string, unknown>>> };

const ProtoAccept = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

/** The manifests the README pipes into `kubectl apply -f - <<'EOF'`. */
async function readmeManifests(): Promise<string[]> {
  const readme = await readFile(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const manifests = [...readme.matchAll(/kubectl apply -f - <<'EOF'\n([\s\S]*?)\nEOF\n/g)].map((m) => `${m[1]!}\n`);
  // The DataVolume and the VirtualMachine examples.
  expect(manifests.length).toBeGreaterThanOrEqual(2);
  return manifests;
}

/** Nodes a structural schema may not have: no type (unless int-or-string or kept as given), arrays without items. */
function structuralProblems(s: JsonSchema & Record<string, unknown>, at: string): string[] {
  if (s.$ref || s.allOf) return [];
  const out: string[] = [];
  if (!s.type && !s['x-kubernetes-int-or-string'] && !s['x-kubernetes-preserve-unknown-fields']) out.push(`${at}: no type`);
  if (s.type === 'array' && !s.items) out.push(`${at}: array without items`);
  for (const [k, v] of Object.entries(s.properties ?? {})) out.push(...structuralProblems(v as JsonSchema & Record<string, unknown>, `${at}.${k}`));
  if (s.items) out.push(...structuralProblems(s.items as JsonSchema & Record<string, unknown>, `${at}[]`));
  if (s.additionalProperties) out.push(...structuralProblems(s.additionalProperties as JsonSchema & Record<string, unknown>, `${at}{}`));
  return out;
}

describe('OpenAPI documents and the kubectl features built on them', () => {
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

  it('serves /openapi/v2 with a structural definition and GVK for every kind, and write operations that take fieldValidation and dryRun', async () => {
    const res = await curlApi(h.server, 'GET', '/openapi/v2');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toEqual(['application/json']);
    const doc = res.json() as Doc;
    const defs = doc.definitions!;
    for (const k of kinds) {
      const gvk = { group: k.group, version: k.version, kind: k.kind };
      const def = Object.values(defs).find((d) => JSON.stringify(d['x-kubernetes-group-version-kind']) === JSON.stringify([gvk]));
      expect(def, `definition of ${k.kind}`).toBeDefined();
      expect(structuralProblems(def!, k.kind)).toEqual([]);
      const patchOps = Object.values(doc.paths).filter((p) => JSON.stringify(p.patch?.['x-kubernetes-group-version-kind']) === JSON.stringify(gvk));
      if (k.createOnly) continue;
      expect(patchOps.length, `PATCH paths of ${k.kind}`).toBeGreaterThan(0);
      for (const p of patchOps) expect((p.patch as { parameters: Array<{ name: string }> }).parameters.map((x) => x.name)).toEqual(expect.arrayContaining(['fieldValidation', 'dryRun', 'fieldManager']));
    }
    expect(defs['io.k8s.api.core.v1.Pod']!.properties!.spec!.properties!.containers).toMatchObject({
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
      'x-kubernetes-patch-merge-key': 'name',
      'x-kubernetes-patch-strategy': 'merge',
    });

    const proto = await curlApi(h.server, 'GET', '/openapi/v2', { headers: { Accept: ProtoAccept } });
    expect(proto.status).toBe(200);
    expect(proto.headers['content-type']).toEqual(['application/com.github.proto-openapi.spec.v2.v1.0+protobuf']);
    expect(proto.body.subarray(0, 5).toString('latin1')).toBe('\n\x032.0');
    const etag = proto.headers.etag![0]!;
    const again = await curlApi(h.server, 'GET', '/openapi/v2', { headers: { Accept: ProtoAccept, 'If-None-Match': etag } });
    expect([again.status, again.body.length]).toEqual([304, 0]);
  });

  it('serves /openapi/v3 by group-version behind content hashes, with ETags, redirects for stale hashes and 404 for unknown ones', async () => {
    const discovery = (await curlApi(h.server, 'GET', '/openapi/v3')).json() as { paths: Record<string, { serverRelativeURL: string }> };
    expect(Object.keys(discovery.paths).sort()).toEqual([
      'api/v1',
      'apis/admissionregistration.k8s.io/v1',
      'apis/authorization.k8s.io/v1',
      'apis/cdi.kubevirt.io/v1beta1',
      'apis/coordination.k8s.io/v1',
      'apis/kubevirt.io/v1',
      'apis/rbac.authorization.k8s.io/v1',
      'apis/storage.k8s.io/v1',
      'apis/upload.cdi.kubevirt.io/v1beta1',
    ]);
    for (const [gv, { serverRelativeURL }] of Object.entries(discovery.paths)) {
      const hash = new URL(serverRelativeURL, 'https://x').searchParams.get('hash')!;
      const res = await curlApi(h.server, 'GET', serverRelativeURL);
      expect(res.status, gv).toBe(200);
      expect(res.headers.etag).toEqual([`"${hash}"`]);
      expect(res.headers['cache-control']).toEqual(['public, immutable']);
      const doc = res.json() as Doc & { components: { schemas: Record<string, unknown> } };
      expect(doc.openapi).toBe('3.0.0');
      const notModified = await curlApi(h.server, 'GET', `/openapi/v3/${gv}`, { headers: { 'If-None-Match': `"${hash}"` } });
      expect(notModified.status).toBe(304);
      const stale = await curlApi(h.server, 'GET', `/openapi/v3/${gv}?hash=0123`);
      expect([stale.status, stale.headers.location]).toEqual([301, [serverRelativeURL]]);
    }
    expect((await curlApi(h.server, 'GET', '/openapi/v3/apis/apps/v1')).status).toBe(404);
  });

  it('kubectl 1.20: explain prints the field docs, client-side validation refuses unknown fields, --dry-run=server and the README manifests work', async () => {
    const explained = await kubectl(kc, 'explain', 'datavolume.spec.source.http');
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toContain('KIND:     DataVolume');
    expect(explained.stdout).toContain('Import from an http or https URL.');
    expect(explained.stdout).toMatch(/url\t<string> -required-\n\s+URL of the image: http or https/);
    const pod = await kubectl(kc, 'explain', 'pod.spec.containers.volumeMounts');
    expect(pod.stdout).toMatch(/mountPath\t<string> -required-/);

    const typo = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndata:\n  a: b\ndtaa:\n  c: d\n';
    const refused = await kubectlWithInput(kc, typo, 'create', '-f', '-');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('ValidationError(ConfigMap): unknown field "dtaa" in io.k8s.api.core.v1.ConfigMap');
    expect((await kubectl(kc, 'get', 'configmap', 'typo')).code).not.toBe(0);
    const unvalidated = await kubectlWithInput(kc, typo, 'create', '--validate=false', '-f', '-');
    expect(unvalidated.code).toBe(0);
    expect(unvalidated.stderr).toContain('Warning: unknown field "dtaa"');

    const dry = await kubectlWithInput(kc, typo.replace('typo', 'dry').replace('dtaa', 'data2').replace(/data2:\n {2}c: d\n/, ''), 'create', '--dry-run=server', '-f', '-');
    expect([dry.code, dry.stdout]).toEqual([0, 'configmap/dry created (server dry run)\n']);
    expect((await kubectl(kc, 'get', 'configmap', 'dry')).code).not.toBe(0);

    for (const manifest of await readmeManifests()) {
      const first = await kubectlWithInput(kc, manifest, 'apply', '-f', '-');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/ created\n$/);
      expect(first.stderr).toBe('');
      const second = await kubectlWithInput(kc, manifest, 'apply', '-f', '-');
      expect(second.stdout).toMatch(/ unchanged\n$/);
      expect((await kubectlWithInput(kc, manifest, 'delete', '-f', '-')).code).toBe(0);
    }
  });

  it('kubectl 1.32 (/usr/bin/kubectl; skipped when the machine has none): explain, strict server-side validation, warn, and the README manifests', async (ctx) => {
    ctx.skip(!machineKubectl, 'no kubectl at /usr/bin/kubectl on this machine');
    const explained = await runKubectl(machineKubectl!, kc, undefined, 'explain', 'datavolume.spec.source.http');
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toContain('GROUP:      cdi.kubevirt.io');
    expect(explained.stdout).toMatch(/url\t<string> -required-\n\s+URL of the image: http or https/);

    const typo = 'apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata:\n  name: strict-dv\nspec:\n  source:\n    blank: {}\n  storage:\n    resources:\n      requests:\n        storage: 1Gi\n  sourc: {}\n';
    for (const args of [['create', '-f', '-'], ['create', '--validate=strict', '-f', '-']]) {
      const refused = await runKubectl(machineKubectl!, kc, typo, ...args);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toContain('Error from server (BadRequest): error when creating "STDIN": DataVolume in version "v1beta1" cannot be handled as a DataVolume: strict decoding error: unknown field "spec.sourc"');
    }
    expect((await runKubectl(machineKubectl!, kc, undefined, 'get', 'dv', 'strict-dv')).code).not.toBe(0);
    const warned = await runKubectl(machineKubectl!, kc, typo, 'create', '--validate=warn', '-f', '-');
    expect(warned.code, warned.stderr).toBe(0);
    expect(warned.stderr).toContain('Warning: unknown field "spec.sourc"');

    for (const manifest of await readmeManifests()) {
      const first = await runKubectl(machineKubectl!, kc, manifest, 'apply', '-f', '-');
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/ created\n$/);
      expect(first.stderr).toBe('');
      expect((await runKubectl(machineKubectl!, kc, manifest, 'apply', '-f', '-')).stdout).toMatch(/ unchanged\n$/);
      expect((await runKubectl(machineKubectl!, kc, manifest, 'delete', '-f', '-')).code).toBe(0);
    }
  });
});
