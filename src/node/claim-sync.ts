import { CoreV1Api, PatchStrategy, StorageV1Api, setHeaderOptions, type V1PersistentVolumeClaim, type V1Pod, type V1StorageClass } from '@kubernetes/client-node';
import type { Logger } from '../api/logger.ts';
import { eventSink } from './events.ts';
import { LocalNodeName, LocalProvisioner, LocalStorageClass, LocalVolumePathAnnotation } from './layout.ts';
import { podReferences } from './pod-plan.ts';
import { decideClaim, deleteVolume, provisionVolume, VolumeTooLarge } from './volumes.ts';

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export function isNotFound(err: unknown): boolean {
  return (err as { code?: number }).code === 404;
}

export interface ClaimSyncDeps {
  core: CoreV1Api;
  storage: StorageV1Api;
  dataDir: string;
  logger: Logger;
  claim: (namespace: string, name: string) => V1PersistentVolumeClaim | undefined;
  pods: (namespace: string) => ReadonlyArray<V1Pod>;
}

/** Binds or re-provisions one claim (the external-provisioner and PV controller's part). */
export async function syncClaim(deps: ClaimSyncDeps, namespace: string, name: string): Promise<void> {
  const claim = deps.claim(namespace, name);
  if (!claim) return;
  const className = claim.spec?.storageClassName || undefined;
  const sc = className ? await readClass(deps.storage, className) : undefined;
  const hasConsumer = deps.pods(namespace).some((p) => !isTerminal(p) && podReferences(p).claims.has(name));
  const d = decideClaim(deps.dataDir, claim, sc, hasConsumer);
  const log = deps.logger.child({ claim: `${namespace}/${name}` });
  if (d.action === 'wait') {
    log.debug({ reason: d.reason }, 'claim not bound');
    return;
  }
  try {
    await provisionVolume(d.path, d.block, d.capacityBytes);
  } catch (err) {
    if (!isCapacityError(err)) throw err;
    // Retrying cannot help until the claim changes: say so once on the claim, as a provisioner does.
    const why = err instanceof VolumeTooLarge ? err.message : `${d.capacityBytes} bytes does not fit the data dir's file system (${(err as NodeJS.ErrnoException).code})`;
    const message = `failed to provision volume with StorageClass "${className ?? LocalStorageClass}": a ${d.block ? 'Block' : 'Filesystem'} volume of ${why}`;
    eventSink(deps.core, { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: claim.metadata }, deps.logger, LocalProvisioner)('Warning', 'ProvisioningFailed', message);
    log.warn({ err, capacityBytes: d.capacityBytes }, 'claim cannot be provisioned');
    return;
  }
  if (d.action === 'ensure') return;
  const volumeName = `pvc-${claim.metadata?.uid}`;
  const annotations: Record<string, string> = {
    [LocalVolumePathAnnotation]: d.path,
    'pv.kubernetes.io/bind-completed': 'yes',
    'pv.kubernetes.io/bound-by-controller': 'yes',
    'volume.kubernetes.io/storage-provisioner': LocalProvisioner,
  };
  if (sc?.volumeBindingMode === 'WaitForFirstConsumer') annotations['volume.kubernetes.io/selected-node'] = LocalNodeName;
  if (claim.spec?.volumeName !== volumeName || claim.metadata?.annotations?.[LocalVolumePathAnnotation] !== d.path) {
    await deps.core.patchNamespacedPersistentVolumeClaim({ namespace, name, body: { metadata: { annotations }, spec: { volumeName } } }, mergePatch);
  }
  await deps.core.patchNamespacedPersistentVolumeClaimStatus(
    { namespace, name, body: { status: { phase: 'Bound', accessModes: claim.spec?.accessModes ?? ['ReadWriteOnce'], capacity: { storage: d.capacity } } } },
    mergePatch,
  );
  log.info({ path: d.path, capacity: d.capacity, block: d.block }, 'claim bound');
}

/** A size the file system cannot hold (past its largest file) or cannot even express. */
function isCapacityError(err: unknown): boolean {
  if (err instanceof VolumeTooLarge) return true;
  const code = (err as { code?: string }).code;
  return code === 'EFBIG' || code === 'EINVAL' || code === 'ENOSPC' || code === 'ERR_OUT_OF_RANGE';
}

export async function removeClaimData(dataDir: string, namespace: string, uid: string, logger: Logger): Promise<void> {
  await deleteVolume(dataDir, namespace, uid);
  logger.info({ namespace, uid }, 'claim deleted; volume data removed');
}

async function readClass(storage: StorageV1Api, name: string): Promise<V1StorageClass | undefined> {
  try {
    return await storage.readStorageClass({ name });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export function isTerminal(p: V1Pod): boolean {
  return p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
}
