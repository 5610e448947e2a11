import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1ContainerStatus, type V1Pod } from '@kubernetes/client-node';
import { silentLogger } from '../../src/api/logger.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { ensureNamespace } from '../../src/cli/serve/namespace.ts';
import { DefaultCdiNamespace, startController, type ControllerOptions } from '../../src/controller/index.ts';
import type { DataVolume } from '../../src/api/datavolume.ts';
import { eventually } from '../support/eventually.ts';

/**
 * A real embedded API server plus the controller, without a node agent: tests play the kubelet
 * and the volume binder by writing PVC and pod status through the API.
 */
export interface Harness {
  api: ApiServerHandle;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  stop(): Promise<void>;
}

/** `dataDir`: an existing data dir to serve (the harness removes it on stop). */
export async function startHarness(opts: Partial<ControllerOptions> = {}, dataDir?: string): Promise<Harness> {
  dataDir ??= await mkdtemp(path.join(tmpdir(), 'cdi-controller-'));
  const api = await startApiServer({ dataDir, logger: silentLogger });
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  await ensureNamespace(kc, opts.namespace ?? DefaultCdiNamespace);
  const controller = await startController({ kubeConfig: kc, logger: silentLogger, progressIntervalMs: 200, ...opts });
  return {
    api,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    async stop() {
      await controller.stop();
      await api.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const dvRef = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes' };

export async function createDv(h: Harness, body: DataVolume, namespace = 'default'): Promise<DataVolume> {
  return (await h.custom.createNamespacedCustomObject({ ...dvRef, namespace, body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', ...body } })) as DataVolume;
}

export async function getDv(h: Harness, name: string, namespace = 'default'): Promise<DataVolume> {
  return (await h.custom.getNamespacedCustomObject({ ...dvRef, namespace, name })) as DataVolume;
}

export { eventually };

export async function waitPhase(h: Harness, name: string, phase: string, namespace = 'default'): Promise<DataVolume> {
  return eventually(async () => {
    const dv = await getDv(h, name, namespace);
    return dv.status?.phase === phase ? dv : undefined;
  }, `DataVolume ${namespace}/${name} phase ${phase}`);
}

export async function bindClaim(h: Harness, name: string, namespace = 'default'): Promise<void> {
  const pvc = await eventually(async () => h.core.readNamespacedPersistentVolumeClaim({ name, namespace }), `claim ${name}`);
  pvc.status = { phase: 'Bound', accessModes: pvc.spec?.accessModes ?? [], capacity: pvc.spec?.resources?.requests ?? {} };
  await h.core.replaceNamespacedPersistentVolumeClaimStatus({ name, namespace, body: pvc });
}

/** Plays the kubelet: writes a pod's phase, readiness and one container status. */
export async function setPodStatus(h: Harness, name: string, phase: string, container: Partial<V1ContainerStatus>, opts: { ready?: boolean; namespace?: string; portMap?: Record<string, number> } = {}): Promise<V1Pod> {
  const namespace = opts.namespace ?? 'default';
  const pod = await eventually(async () => h.core.readNamespacedPod({ name, namespace }), `pod ${name}`);
  if (opts.portMap) {
    pod.metadata!.annotations = { ...pod.metadata!.annotations, 'local.cdi.kubevirt.io/port-map': JSON.stringify(opts.portMap) };
    await h.core.replaceNamespacedPod({ name, namespace, body: pod });
  }
  const fresh = await h.core.readNamespacedPod({ name, namespace });
  fresh.status = {
    phase,
    podIP: '127.0.0.1',
    conditions: [
      { type: 'PodScheduled', status: 'True' },
      { type: 'Ready', status: opts.ready ? 'True' : 'False' },
    ],
    containerStatuses: [{ name: fresh.spec?.containers[0]?.name ?? 'c', image: fresh.spec?.containers[0]?.image ?? '', imageID: '', ready: opts.ready ?? false, restartCount: 0, ...container }],
  };
  return h.core.replaceNamespacedPodStatus({ name, namespace, body: fresh });
}
