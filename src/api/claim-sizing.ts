import { Ann } from './annotations.ts';
import { MiB, roundUp } from './quantity.ts';

/** Only what the default-class choice reads of a StorageClass. */
export interface StorageClassMeta {
  metadata?: { name?: string; annotations?: Record<string, string> };
}

/** The class a claim without one gets: KubeVirt's default virt class first, then the cluster default. */
export function defaultStorageClass(classes: readonly StorageClassMeta[]): string | undefined {
  const flagged = (key: string) => classes.find((c) => c.metadata?.annotations?.[key] === 'true')?.metadata?.name;
  return flagged(Ann.defaultVirtStorageClass) ?? flagged(Ann.defaultStorageClass);
}

/** CDI's `GetRequiredSpace`: the claim size whose usable part (after overhead) holds `size` bytes. */
export function requiredSpace(size: number, overhead: number): number {
  return Math.ceil(roundUp(size, MiB) / (1 - overhead));
}
