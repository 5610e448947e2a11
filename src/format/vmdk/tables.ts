/**
 * Grain directory and grain table codec: turns table bytes into guest runs (data at a host
 * offset, zeroed grains, or a compressed grain behind its marker), validating every entry before
 * anything uses it. Entries are little-endian u32 sector numbers; 0 is an unallocated grain, 1 a
 * zeroed grain when the header allows them.
 */
import { CdiError } from '../../api/errors.ts';
import { RUN_COMPRESSED, RUN_DATA, RUN_ZERO, type RunList } from '../qcow2/tables.ts';
import { invalid, SECTOR, type SparseHeader } from './header.ts';

export { RUN_COMPRESSED, RUN_DATA, RUN_ZERO, RunList } from '../qcow2/tables.ts';

const GTE_ZEROED = 1;

/** Bytes of one grain table. */
export function gtBytes(h: SparseHeader): number {
  return h.gtEntries * 4;
}

/** Guest bytes one grain table maps. */
function gtCoverage(h: SparseHeader): number {
  return h.grainSize * h.gtEntries;
}

/** Host offset of each grain table, 0 where none is allocated. */
export function decodeGD(bytes: Uint8Array, h: SparseHeader, fileSize?: number): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(h.gdEntries);
  for (let i = 0; i < h.gdEntries; i++) {
    const host = view.getUint32(i * 4, true) * SECTOR;
    if (host === 0) continue;
    if (host < SECTOR * 2) throw invalid(`grain table ${i} overlaps the header`);
    if (fileSize !== undefined && host + gtBytes(h) > fileSize) throw new CdiError('CDI_ERR_VMDK_OUT_OF_BOUNDS', ['grain table', host]);
    out[i] = host;
  }
  return out;
}

/**
 * Decodes grain table `gtIndex` into `out` (appending), in guest order. Grains live in grain
 * space (from the header's grain offset on); with `fileSize` known, uncompressed grains must lie
 * inside the file. A compressed grain's host length is learnt from its marker, so it is 0 here.
 */
export function decodeGT(table: Uint8Array, gtIndex: number, h: SparseHeader, out: RunList, fileSize?: number): void {
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const firstGuest = gtIndex * gtCoverage(h);
  const entries = Math.min(h.gtEntries, Math.ceil((h.virtualSize - firstGuest) / h.grainSize));
  for (let i = 0; i < entries; i++) {
    const entry = view.getUint32(i * 4, true);
    if (entry === 0) continue;
    const guest = firstGuest + i * h.grainSize;
    const length = Math.min(h.grainSize, h.virtualSize - guest);
    if (entry === GTE_ZEROED && h.zeroGrains) {
      out.push(RUN_ZERO, guest, 0, length, 0);
      continue;
    }
    const host = entry * SECTOR;
    if (host < h.overhead) throw invalid(`grain for guest offset ${guest} at ${host} is inside the header and tables`);
    if (h.compressed) {
      if (fileSize !== undefined && host + SECTOR > fileSize) throw new CdiError('CDI_ERR_VMDK_OUT_OF_BOUNDS', ['grain', host]);
      out.push(RUN_COMPRESSED, guest, host, length, 0);
      continue;
    }
    if (fileSize !== undefined && host + length > fileSize) throw new CdiError('CDI_ERR_VMDK_OUT_OF_BOUNDS', ['grain', host]);
    out.push(RUN_DATA, guest, host, length, length);
  }
}
