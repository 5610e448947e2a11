import fs from 'node:fs';
import path from 'node:path';
import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { formatQuantity, MiB, parseQuantity, roundUp } from '../api/quantity.ts';
import { claimVolumePath, LocalProvisioner, LocalStorageClass, LocalVolumePathAnnotation, volumesRoot } from './layout.ts';

/**
 * Local dynamic provisioning: claims of a storage class whose provisioner is ours (the default
 * `local` class, or no class at all) bind to a directory (Filesystem, the image is `disk.img`
 * inside) or a sparse file of the requested size (Block) under the data dir. This module holds
 * the decision and the file work; the agent does the API writes.
 */
export type ClaimDecision =
  | { action: 'bind'; path: string; block: boolean; capacityBytes: number; capacity: string }
  | { action: 'ensure'; path: string; block: boolean; capacityBytes: number }
  | { action: 'wait'; reason: string };

export function isLocalClass(name: string | undefined, sc: V1StorageClass | undefined): boolean {
  if (sc) return sc.provisioner === LocalProvisioner;
  return !name || name === LocalStorageClass;
}

export function decideClaim(dataDir: string, claim: V1PersistentVolumeClaim, sc: V1StorageClass | undefined, hasConsumer: boolean): ClaimDecision {
  const ns = claim.metadata?.namespace ?? 'default';
  const uid = claim.metadata?.uid ?? '';
  const block = claim.spec?.volumeMode === 'Block';
  const request = claim.spec?.resources?.requests?.storage;
  // Like most provisioners, whole MiB: the capacity reads as a quantity ("2179Mi"), not a byte count.
  const requested = parseQuantity(request as string | undefined);
  const capacityBytes = requested === undefined ? undefined : roundUp(requested, MiB);
  const className = claim.spec?.storageClassName ?? undefined;
  if (claim.metadata?.deletionTimestamp) return { action: 'wait', reason: 'claim is being deleted' };
  if (!isLocalClass(className, sc)) return { action: 'wait', reason: `storage class ${className} is not provisioned by ${LocalProvisioner}` };
  if (capacityBytes === undefined || capacityBytes <= 0) return { action: 'wait', reason: 'claim has no valid spec.resources.requests.storage' };
  const target = claimVolumePath(dataDir, ns, uid, block);
  if (claim.status?.phase === 'Bound') {
    const recorded = claim.metadata?.annotations?.[LocalVolumePathAnnotation];
    return recorded ? { action: 'ensure', path: target, block, capacityBytes } : { action: 'wait', reason: 'bound by someone else' };
  }
  if (sc?.volumeBindingMode === 'WaitForFirstConsumer' && !hasConsumer) return { action: 'wait', reason: 'waiting for first consumer to be created before binding' };
  return { action: 'bind', path: target, block, capacityBytes, capacity: formatQuantity(capacityBytes) };
}

/** A Block claim larger than the whole file system under the data dir: it can never be written. */
export class VolumeTooLarge extends Error {
  readonly fileSystemBytes: number;
  constructor(capacityBytes: number, fileSystemBytes: number) {
    super(`${capacityBytes} bytes is larger than the data dir's file system (${fileSystemBytes} bytes)`);
    this.fileSystemBytes = fileSystemBytes;
  }
}

/** Creates the directory, or the sparse file of `capacityBytes`, if it is not there yet. */
export async function provisionVolume(target: string, block: boolean, capacityBytes: number): Promise<void> {
  // volumes/<ns>/ stays searchable for the workers' users; the volume itself is for its owner and group.
  await fs.promises.mkdir(path.dirname(target), { recursive: true });
  if (!block) {
    await fs.promises.mkdir(target, { recursive: true, mode: 0o770 });
    return;
  }
  const fsInfo = await fs.promises.statfs(path.dirname(target));
  const fileSystemBytes = fsInfo.blocks * fsInfo.bsize;
  if (capacityBytes > fileSystemBytes) throw new VolumeTooLarge(capacityBytes, fileSystemBytes);
  const fh = await fs.promises.open(target, 'a', 0o660);
  try {
    const { size } = await fh.stat();
    if (size < capacityBytes) await fh.truncate(capacityBytes);
  } finally {
    await fh.close();
  }
}

/** Deletes a claim's data: both shapes, so a claim whose mode we never saw is still cleaned. */
export async function deleteVolume(dataDir: string, namespace: string, claimUid: string): Promise<void> {
  await fs.promises.rm(claimVolumePath(dataDir, namespace, claimUid, false), { recursive: true, force: true });
  await fs.promises.rm(claimVolumePath(dataDir, namespace, claimUid, true), { force: true });
}

/** Volume data on disk whose claim no longer exists (deleted while the agent was down). */
export async function orphanVolumes(dataDir: string, liveClaims: ReadonlySet<string>): Promise<Array<{ namespace: string; uid: string }>> {
  const out: Array<{ namespace: string; uid: string }> = [];
  const root = volumesRoot(dataDir);
  const namespaces = await fs.promises.readdir(root).catch(() => [] as string[]);
  for (const ns of namespaces) {
    for (const entry of await fs.promises.readdir(path.join(root, ns)).catch(() => [] as string[])) {
      const uid = entry.endsWith('.img') ? entry.slice(0, -4) : entry;
      if (!liveClaims.has(`${ns}/${uid}`)) out.push({ namespace: ns, uid });
    }
  }
  return out;
}
