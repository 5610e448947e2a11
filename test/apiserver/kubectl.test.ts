import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, kubectlPath, kubectlWithInput, spawnKubectl } from '../support/kubectl.ts';
import { eventually, startHarness, type Harness } from './harness.ts';

function dvYaml(name: string, label: string, url = 'https://example.com/disk.qcow2'): string {
  return `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ${name}
  labels:
    tier: ${label}
spec:
  source:
    http:
      url: ${url}
  storage:
    resources:
      requests:
        storage: 1Gi
`;
}

describe('apiserver with kubectl 1.20 (Debian kubernetes-client)', () => {
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

  it('uses the project kubectl, not the system one', async () => {
    expect(await kubectlPath()).toContain(`${path.sep}.cache${path.sep}kubectl${path.sep}`);
    const v = await kubectl(kc, 'version', '--short');
    expect(v.stdout).toContain('Client Version: v1.20');
    expect(v.stdout).toContain('Server Version: v1.20');
  });

  it('creates, gets (short name), applies twice, describes and deletes DataVolumes from YAML, and watches them', async () => {
    const file = path.join(h.dataDir, 'dv.yaml');
    await writeFile(file, dvYaml('fedora', 'gold'));
    const watcher = await spawnKubectl(kc, 'get', 'dv', '-w', '--no-headers');
    let watched = '';
    watcher.stdout!.setEncoding('utf8').on('data', (d: string) => (watched += d));
    try {
      const created = await kubectl(kc, 'create', '-f', file);
      expect(created).toMatchObject({ code: 0, stdout: 'datavolume.cdi.kubevirt.io/fedora created\n' });
      const again = await kubectl(kc, 'create', '-f', file);
      expect(again.code).not.toBe(0);
      expect(again.stderr).toContain('AlreadyExists');

      const got = await kubectl(kc, 'get', 'dv');
      expect(got.code).toBe(0);
      expect(got.stdout).toMatch(/^NAME\s+PHASE\s+PROGRESS\s+RESTARTS\s+AGE\n/);
      expect(got.stdout).toMatch(/\nfedora\s+/);

      await writeFile(file, dvYaml('applied', 'silver'));
      expect(await kubectl(kc, 'apply', '-f', file)).toMatchObject({ code: 0, stdout: 'datavolume.cdi.kubevirt.io/applied created\n' });
      await writeFile(file, dvYaml('applied', 'bronze'));
      expect(await kubectl(kc, 'apply', '-f', file)).toMatchObject({ code: 0, stdout: 'datavolume.cdi.kubevirt.io/applied configured\n' });
      const label = await kubectl(kc, 'get', 'datavolume', 'applied', '-o', 'jsonpath={.metadata.labels.tier}');
      expect(label.stdout).toBe('bronze');
      expect((await kubectl(kc, 'apply', '-f', file)).stdout).toBe('datavolume.cdi.kubevirt.io/applied unchanged\n');
      // DataVolume specs are immutable, as CDI's webhook says.
      await writeFile(file, dvYaml('applied', 'bronze', 'https://example.com/other.qcow2'));
      const changed = await kubectl(kc, 'apply', '-f', file);
      expect(changed.code).not.toBe(0);
      expect(changed.stderr).toContain('Cannot update DataVolume Spec');

      const described = await kubectl(kc, 'describe', 'dv', 'applied');
      expect(described.code).toBe(0);
      expect(described.stdout).toMatch(/Name:\s+applied/);
      expect(described.stdout).toMatch(/Tier=bronze|tier=bronze/);

      const yaml = await kubectl(kc, 'get', 'dvs', 'applied', '-o', 'yaml');
      expect(yaml.stdout).toContain('kubectl.kubernetes.io/last-applied-configuration');

      const deleted = await kubectl(kc, 'delete', '-f', file);
      expect(deleted).toMatchObject({ code: 0, stdout: 'datavolume.cdi.kubevirt.io "applied" deleted\n' });
      expect((await kubectl(kc, 'delete', 'dv', 'fedora')).code).toBe(0);
      expect((await kubectl(kc, 'get', 'dv', '-o', 'name')).stdout).toBe('');

      await eventually(() => (/^applied\s/m.test(watched) && /^fedora\s/m.test(watched) ? true : undefined), 'kubectl get -w output');
    } finally {
      watcher.kill('SIGTERM');
    }
  });

  it('applies core kinds with strategic merge patches and lists other resources', async () => {
    const cm = (data: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n${data}`;
    expect((await kubectlWithInput(kc, cm('  a: "1"\n  b: "2"\n'), 'apply', '-f', '-')).code).toBe(0);
    expect((await kubectlWithInput(kc, cm('  a: "3"\n'), 'apply', '-f', '-')).stdout).toBe('configmap/settings configured\n');
    const data = await kubectl(kc, 'get', 'cm', 'settings', '-o', 'jsonpath={.data}');
    expect(JSON.parse(data.stdout)).toEqual({ a: '3' });
    const sc = await kubectl(kc, 'get', 'sc');
    expect(sc.stdout).toMatch(/local \(default\)\s+local\.cdi\.kubevirt\.io/);
    expect((await kubectl(kc, 'get', 'pvc,pods,svc,vm,cdiconfig,storageprofiles,datasources,dataimportcrons,leases,events')).code).toBe(0);
    const resources = await kubectl(kc, 'api-resources', '-o', 'name');
    expect(resources.stdout.split('\n')).toEqual(expect.arrayContaining(['datavolumes.cdi.kubevirt.io', 'uploadtokenrequests.upload.cdi.kubevirt.io', 'virtualmachines.kubevirt.io']));
  });

  it('reports errors the way kubectl users expect', async () => {
    const unknown = await kubectl(kc, 'get', 'widgets');
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain(`the server doesn't have a resource type "widgets"`);
    const invalid = await kubectlWithInput(
      kc,
      'apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata:\n  name: nosource\nspec:\n  storage:\n    resources:\n      requests:\n        storage: 1Gi\n',
      'create',
      '-f',
      '-',
    );
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain('Data volume should have either Source or SourceRef');
    const missing = await kubectl(kc, 'get', 'dv', 'nope');
    expect(missing.stderr).toContain('datavolumes.cdi.kubevirt.io "nope" not found');
  });
});
