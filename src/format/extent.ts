/**
 * What format readers emit and sinks consume: a guest offset with data, or a run of zeros.
 * Readers emit extents in any order; sinks write at offsets and never materialise zero runs on
 * a sparse target.
 */
import type { Lease } from './buffer-pool.ts';

/**
 * A data extent may hold one lease on a pooled buffer under `data`: the consumer releases it
 * once it is done with `data` (or never, and the buffer is simply not reused).
 */
export type Extent =
  | { readonly kind: 'data'; readonly offset: number; readonly data: Uint8Array; readonly lease?: Lease }
  | { readonly kind: 'zero'; readonly offset: number; readonly length: number };

export function extentEnd(extent: Extent): number {
  return extent.offset + (extent.kind === 'data' ? extent.data.byteLength : extent.length);
}

/** Trades one hold on the buffer under `extents` for one per extent (each consumer releases its own). */
export function holdPerExtent(extents: readonly Extent[], lease: Lease | undefined): void {
  if (!lease) return;
  for (let k = 0; k < extents.length; k++) lease.retain();
  lease.release();
}
