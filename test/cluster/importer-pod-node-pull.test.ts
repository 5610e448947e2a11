import { describe, expect, it } from 'vitest';
import { Ann } from '../../src/api/annotations.ts';
import { importerPod, workerImages } from '../../src/controller/pods.ts';
import { validateModel } from './support/k8s-schema.ts';

/**
 * The importer pod the controller builds for registry pullMethod node, checked as the deploy
 * manifests are (test/cluster/manifests.test.ts): against the Kubernetes OpenAPI model, so the
 * image volume is a shape a 1.31+ API server accepts, and still the restricted pod CDI runs.
 */
const pod = importerPod({
  pvc: {
    metadata: {
      name: 'fedora', namespace: 'golden', uid: 'u1',
      ownerReferences: [{ apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', name: 'fedora', uid: 'dv1' }],
      annotations: {
        [Ann.importSource]: 'registry',
        [Ann.importEndpoint]: 'docker://quay.io/containerdisks/fedora@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
        [Ann.registryImportMethod]: 'node',
      },
    },
    spec: { resources: { requests: { storage: '10Gi' } }, volumeMode: 'Block' },
  },
  config: undefined,
  image: workerImages().importer,
});

describe('importer pod for pullMethod node', () => {
  it('matches the V1Pod OpenAPI model, image volume included', () => {
    const errors: string[] = [];
    validateModel(pod, 'V1Pod', 'Pod', errors);
    expect(errors).toEqual([]);
    expect(pod.spec?.volumes?.find((v) => v.image)?.image).toEqual({ reference: 'quay.io/containerdisks/fedora@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', pullPolicy: 'IfNotPresent' });
  });

  it('stays restricted: one non-root container, the image mounted read-only beside the Block target', () => {
    expect(pod.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 107, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.spec?.containers.map((c) => c.name)).toEqual(['importer']);
    const importer = pod.spec!.containers[0]!;
    expect(importer.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(importer.volumeDevices).toEqual([{ name: 'cdi-data-vol', devicePath: '/dev/cdi-block-volume' }]);
    expect(importer.volumeMounts).toEqual([{ name: 'cdi-image-vol', mountPath: '/cdi-image', readOnly: true }]);
  });
});
