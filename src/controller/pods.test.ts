import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Ann } from '../api/annotations.ts';
import type { CdiConfig } from '../api/cdiconfig.ts';
import { importerPod, isInsecureRegistry } from './pods.ts';

const config = { spec: { insecureRegistries: ['registry.local:5000', '127.0.0.1:5055'] } } as CdiConfig;

function claim(endpoint: string, extra: Record<string, string> = {}): V1PersistentVolumeClaim {
  return {
    metadata: { name: 'disk', namespace: 'default', annotations: { [Ann.importSource]: 'registry', [Ann.importEndpoint]: endpoint, ...extra } },
    spec: { resources: { requests: { storage: '1Gi' } } },
  };
}

const insecureTlsOf = (pvc: V1PersistentVolumeClaim) =>
  importerPod({ pvc, config, image: 'cdi-ts/importer:latest' }).spec?.containers[0]?.env?.find((e) => e.name === 'INSECURE_TLS')?.value;

describe('insecure registries (CDIConfig spec.insecureRegistries)', () => {
  it('matches a docker:// endpoint by host and port', () => {
    expect(isInsecureRegistry('docker://registry.local:5000/disks/fedora:40', config)).toBe(true);
    expect(isInsecureRegistry('docker://127.0.0.1:5055/cdisk@sha256:abc', config)).toBe(true);
    expect(isInsecureRegistry('docker://registry.local/disks/fedora:40', config)).toBe(false);
    expect(isInsecureRegistry('http://registry.local:5000/disk.img', config)).toBe(false);
    expect(isInsecureRegistry('docker://registry.local:5000/x', undefined)).toBe(false);
  });

  it('sets INSECURE_TLS on the importer pod for a listed registry, and for http insecureSkipVerify', () => {
    expect(insecureTlsOf(claim('docker://registry.local:5000/disks/fedora:40'))).toBe('true');
    expect(insecureTlsOf(claim('docker://quay.io/containerdisks/fedora:40'))).toBe('false');
    expect(insecureTlsOf(claim('https://example.com/disk.img', { [Ann.importInsecureSkipVerify]: 'true' }))).toBe('true');
  });
});

describe('secretExtraHeaders', () => {
  it("mounts Secret i at /extraheaders/i, as CDI does, and never puts its values in the env", () => {
    const pvc = claim('https://example.com/disk.img', {
      [Ann.importSource]: 'http',
      [`${Ann.importSecretExtraHeaders}.1`]: 'second',
      [`${Ann.importSecretExtraHeaders}.0`]: 'first',
    });
    const pod = importerPod({ pvc, config, image: 'cdi-ts/importer:latest' });
    const container = pod.spec?.containers[0];
    expect(container?.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'cdi-secret-extra-headers-vol-0', mountPath: '/extraheaders/0', readOnly: true },
        { name: 'cdi-secret-extra-headers-vol-1', mountPath: '/extraheaders/1', readOnly: true },
      ]),
    );
    expect(pod.spec?.volumes).toEqual(
      expect.arrayContaining([
        { name: 'cdi-secret-extra-headers-vol-0', secret: { secretName: 'first' } },
        { name: 'cdi-secret-extra-headers-vol-1', secret: { secretName: 'second' } },
      ]),
    );
    expect(JSON.stringify(container?.env)).not.toContain('first');
  });
});

describe('registry pullMethod node', () => {
  it('mounts the disk image as a Kubernetes image volume the kubelet pulls, and gives the importer no registry credentials', () => {
    const pvc = claim('docker://registry.local:5000/disks/fedora@sha256:abc', {
      [Ann.registryImportMethod]: 'node',
      [Ann.importSecretName]: 'pull-creds',
      [Ann.registryImageArchitecture]: 'arm64',
    });
    const pod = importerPod({ pvc, config, image: 'cdi-ts/importer:latest' });
    expect(pod.spec?.volumes).toContainEqual({ name: 'cdi-image-vol', image: { reference: 'registry.local:5000/disks/fedora@sha256:abc', pullPolicy: 'IfNotPresent' } });
    const importer = pod.spec?.containers[0];
    expect(pod.spec?.containers).toHaveLength(1);
    expect(pod.spec?.initContainers).toBeUndefined();
    expect(importer?.volumeMounts).toContainEqual({ name: 'cdi-image-vol', mountPath: '/cdi-image', readOnly: true });
    const env = Object.fromEntries((importer?.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env).toMatchObject({ IMPORTER_SOURCE: 'registry', IMPORTER_PULL_METHOD: 'node', IMPORTER_ENDPOINT: 'docker://registry.local:5000/disks/fedora@sha256:abc' });
    expect(env.IMPORTER_ACCESS_KEY_ID).toBeUndefined();
    expect(env.IMPORTER_SECRET_KEY).toBeUndefined();
    expect(pod.spec?.nodeSelector).toEqual({ 'kubernetes.io/arch': 'arm64' });
  });

  it('leaves pullMethod pod as it was: no image volume, the secret in the importer env', () => {
    const pod = importerPod({ pvc: claim('docker://registry.local:5000/disks/fedora:40', { [Ann.importSecretName]: 'pull-creds' }), config, image: 'cdi-ts/importer:latest' });
    expect(pod.spec?.volumes?.some((v) => v.image)).toBe(false);
    expect(pod.spec?.nodeSelector).toBeUndefined();
    const names = (pod.spec?.containers[0]?.env ?? []).map((e) => e.name);
    expect(names).toContain('IMPORTER_ACCESS_KEY_ID');
    expect(names).not.toContain('IMPORTER_PULL_METHOD');
  });
});
