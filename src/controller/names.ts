import { createHash } from 'node:crypto';

/** Object names the controller derives, as CDI derives them (shortened with a hash when too long). */
const DnsLabelMax = 63;

/** CDI's `naming.GetName`: keeps the name when it fits, else a prefix plus a short hash of the whole. */
export function shortName(name: string, max = DnsLabelMax): string {
  if (name.length <= max) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, max - hash.length - 1).replace(/[-.]+$/, '')}-${hash}`;
}

export const importerPodName = (pvc: string) => shortName(`importer-${pvc}`, 253);
export const uploadPodName = (pvc: string) => shortName(`cdi-upload-${pvc}`);
export const uploadServiceName = (pvc: string) => shortName(`cdi-upload-${pvc}`);
export const uploadSecretName = (pvc: string) => shortName(`cdi-upload-${pvc}`, 253);
export const clonerPodName = (targetPvcUid: string) => `${targetPvcUid}-source-pod`;

/** The CN a clone source presents to the target's upload server (CDI's format). */
export const cloneClientName = (srcNs: string, srcPvc: string, tgtNs: string, tgtPvc: string) => `${srcNs}/${srcPvc}-${tgtNs}/${tgtPvc}`;

export const key = (namespace: string | undefined, name: string | undefined) => `${namespace ?? ''}/${name ?? ''}`;

export function splitKey(k: string): { namespace: string; name: string } {
  const i = k.indexOf('/');
  return { namespace: k.slice(0, i), name: k.slice(i + 1) };
}
