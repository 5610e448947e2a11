import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container, V1PersistentVolumeClaim, V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { workerKindOfImage } from '../../src/api/images.ts';
import { dataPathNodeFlags, relayNodeFlags } from '../../src/api/runtime.ts';
import { clonerConfigFromEnv } from '../../src/cloner/config.ts';
import { clonerPod, importerPod, uploadServerPod, workerImages } from '../../src/controller/pods.ts';
import { parseDockerfile, stageConfig } from './support/dockerfile.ts';
import { validateModel } from './support/k8s-schema.ts';

/**
 * The worker pods the controller creates, checked against what cluster mode ships: the images
 * the controller Deployment configures are Dockerfile targets that run the same entry script
 * the embedded node agent runs, and the pods are valid V1Pods with CDI's restricted shape.
 */

const repo = join(import.meta.dirname, '..', '..');
const dockerfile = parseDockerfile(readFileSync(join(repo, 'docker', 'Dockerfile'), 'utf8'));
const controllerDeployment = parseAllDocuments(readFileSync(join(repo, 'docker', 'deploy', 'controller.yaml'), 'utf8'))
  .map((d) => d.toJS() as { kind: string; spec?: { template: { spec: { containers: V1Container[] } } } })
  .find((o) => o.kind === 'Deployment')!;
const env = Object.fromEntries((controllerDeployment.spec!.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
const images = workerImages({ importer: env.IMPORTER_IMAGE, uploadServer: env.UPLOADSERVER_IMAGE, cloner: env.CLONER_IMAGE });
const targetOf = { importer: 'importer', uploadServer: 'uploadserver', cloner: 'cloner' } as const;

const pvc: V1PersistentVolumeClaim = {
  metadata: {
    name: 'disk',
    namespace: 'default',
    uid: '6f1c0d4e-0000-4000-8000-000000000001',
    annotations: { 'cdi.kubevirt.io/storage.import.endpoint': 'https://example.com/disk.qcow2', 'cdi.kubevirt.io/storage.import.source': 'http' },
  },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
};
const config = { spec: { podResourceRequirements: { limits: { cpu: '750m', memory: '600M' }, requests: { cpu: '100m', memory: '60M' } } } };

describe('worker images and pods of cluster mode', () => {
  it.each(Object.entries(images))('%s image is a Dockerfile target running the entry the node agent runs', (kind, image) => {
    expect(workerKindOfImage(image)).toBe(kind);
    const config = stageConfig(dockerfile, targetOf[kind as keyof typeof targetOf]);
    // The bundle of the entry, as the node agent runs it (ADR 0032); test/cluster/image-tree.test.ts
    // checks it against the manifest's bundle of WorkerImages[kind].entry.
    expect(config.cmd).toEqual([`dist/workers/${kind}.mjs`]);
    // the node flags the local agent gives the same entry (src/api/runtime.ts)
    expect(config.entrypoint).toEqual(['/usr/bin/tini', '--', 'node', ...dataPathNodeFlags]);
  });

  it('the upload proxy image runs with the relay flags, as cdi serve runs its proxy process (ADR 0037)', () => {
    expect(stageConfig(dockerfile, 'uploadproxy').entrypoint).toEqual(['/usr/bin/tini', '--', 'node', ...relayNodeFlags]);
  });

  function expectRestricted(pod: V1Pod, resources: unknown): void {
    const errors: string[] = [];
    validateModel(pod, 'V1Pod', 'Pod', errors);
    expect(errors).toEqual([]);
    expect(pod.spec?.restartPolicy).toBe('OnFailure');
    expect(pod.spec?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 107, seccompProfile: { type: 'RuntimeDefault' } });
    for (const container of pod.spec?.containers ?? []) {
      expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      if (resources) expect(container.resources).toEqual(resources);
      // the image's CMD is the entry: a pod must not replace it with another script
      expect(container.command).toBeUndefined();
    }
  }

  it('the importer pod is a valid restricted V1Pod with OnFailure and CDIConfig resources', () => {
    expectRestricted(importerPod({ pvc, config: config as never, image: images.importer }), config.spec.podResourceRequirements);
  });

  it('the upload server pod is a valid restricted V1Pod with CDIConfig resources', () => {
    expectRestricted(uploadServerPod({ pvc, config: config as never, image: images.uploadServer, clientName: 'client.upload-server.cdi.kubevirt.io' }), config.spec.podResourceRequirements);
  });

  it('the cloner pod is a valid restricted V1Pod, with CDIConfig resources when given', () => {
    const target = { ...pvc, metadata: { ...pvc.metadata, name: 'copy', uid: '6f1c0d4e-0000-4000-8000-000000000002' } };
    const inputs = { source: pvc, target, name: 'copy-source-pod', secret: 'copy-clone-client', image: images.cloner, uploadUrl: 'https://cdi-upload-copy.default.svc:8443/v1beta1/upload', serverName: 'cdi-upload-copy.default.svc', ownerUid: 'uid' };
    expectRestricted(clonerPod(inputs), undefined);
    expectRestricted(clonerPod({ ...inputs, config: config as never }), config.spec.podResourceRequirements);
  });

  it('the cloner pod sets only variables the cloner reads', () => {
    const target = { ...pvc, metadata: { ...pvc.metadata, name: 'copy', uid: '6f1c0d4e-0000-4000-8000-000000000002' } };
    for (const source of [pvc, { ...pvc, spec: { ...pvc.spec, volumeMode: 'Block' } }]) {
      const pod = clonerPod({ source, target, name: 'copy-source-pod', secret: 'copy-clone-client', image: images.cloner, uploadUrl: 'https://cdi-upload-copy.default.svc:8443/v1beta1/upload', serverName: 'cdi-upload-copy.default.svc', ownerUid: 'uid' });
      // Secret references stand in for the Secret's keys, as the kubelet would resolve them.
      const podEnv = Object.fromEntries((pod.spec!.containers[0]!.env ?? []).map((e) => [e.name, e.value ?? `${e.valueFrom?.secretKeyRef?.key} of ${e.valueFrom?.secretKeyRef?.name}`]));
      const read = clonerConfigFromEnv(podEnv);
      for (const name of Object.keys(podEnv)) {
        const { [name]: _dropped, ...without } = podEnv;
        const changed = (() => {
          try {
            return JSON.stringify(clonerConfigFromEnv(without)) !== JSON.stringify(read);
          } catch {
            return true;
          }
        })();
        expect(changed, `${name} makes no difference to the cloner`).toBe(true);
      }
    }
  });
});
