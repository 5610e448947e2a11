/**
 * L1 and L2 table codec: turns table bytes into guest runs (data at a host offset, zeros, or a
 * compressed byte range), validating every entry before anything uses it.
 * Entry layouts: qemu `docs/interop/qcow2.txt` (L1, L2, extended L2 entries) and `block/qcow2-cluster.c`.
 */
import { CdiError } from '../../api/errors.ts';
import type { Qcow2Header } from './header.ts';

export const RUN_DATA = 1;
export const RUN_ZERO = 2;
export const RUN_COMPRESSED = 3;

const TWO_32 = 0x100000000;
/** Host offsets above 2^53 cannot be real files; they are also where a JS number stops being exact. */
const MAX_HI = 0x1fffff;

function invalid(reason: string): CdiError {
  return new CdiError('CDI_ERR_QCOW2_INVALID', [reason]);
}

/**
 * Growable columns of guest runs. `hostLength` differs from `length` only for compressed runs,
 * where it is the compressed byte range and `length` the guest bytes the cluster covers.
 */
export class RunList {
  count = 0;
  kind = new Uint8Array(64);
  guest = new Float64Array(64);
  host = new Float64Array(64);
  length = new Float64Array(64);
  hostLength = new Float64Array(64);

  clear(): void {
    this.count = 0;
  }

  private grow(): void {
    const size = this.kind.length * 2;
    const copy = <T extends Uint8Array | Float64Array>(old: T, next: T): T => {
      next.set(old);
      return next;
    };
    this.kind = copy(this.kind, new Uint8Array(size));
    this.guest = copy(this.guest, new Float64Array(size));
    this.host = copy(this.host, new Float64Array(size));
    this.length = copy(this.length, new Float64Array(size));
    this.hostLength = copy(this.hostLength, new Float64Array(size));
  }

  /** Appends a run, merging it into the previous one when both are contiguous data or zeros. */
  push(kind: number, guest: number, host: number, length: number, hostLength: number): void {
    const last = this.count - 1;
    if (last >= 0 && this.kind[last] === kind && kind !== RUN_COMPRESSED && this.guest[last]! + this.length[last]! === guest) {
      if (kind === RUN_ZERO || this.host[last]! + this.length[last]! === host) {
        this.length[last]! += length;
        this.hostLength[last]! += hostLength;
        return;
      }
    }
    if (this.count === this.kind.length) this.grow();
    const i = this.count++;
    this.kind[i] = kind;
    this.guest[i] = guest;
    this.host[i] = host;
    this.length[i] = length;
    this.hostLength[i] = hostLength;
  }
}

/** Guest bytes one L2 table maps. */
function l2Coverage(h: Qcow2Header): number {
  return h.clusterSize * h.l2Entries;
}

/**
 * Decodes the active L1 (the first `l1Entries` entries; the rest map nothing inside the virtual
 * size). Returns the host offset of each L2 table, 0 where the region is unallocated.
 */
export function decodeL1(bytes: Uint8Array, h: Qcow2Header, fileSize?: number): Float64Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(h.l1Entries);
  for (let i = 0; i < h.l1Entries; i++) {
    const hi = view.getUint32(i * 8);
    const lo = view.getUint32(i * 8 + 4);
    if ((hi & 0x7f000000) !== 0 || (lo & 0x1ff) !== 0) throw invalid(`L1 entry ${i} has reserved bits set`);
    const hostHi = hi & 0x00ffffff;
    if (hostHi > MAX_HI) throw new CdiError('CDI_ERR_QCOW2_OUT_OF_BOUNDS', ['L2 table', hostHi * TWO_32 + lo]);
    const host = hostHi * TWO_32 + lo;
    if (host === 0) continue;
    if (host % h.clusterSize !== 0) throw invalid(`L2 table offset ${host} is not cluster aligned`);
    if (host < h.clusterSize) throw invalid('L2 table overlaps the header');
    if (fileSize !== undefined && host + h.clusterSize > fileSize) throw new CdiError('CDI_ERR_QCOW2_OUT_OF_BOUNDS', ['L2 table', host]);
    out[i] = host;
  }
  return out;
}

/**
 * Decodes the L2 table of L1 entry `l1Index` into `out` (appending), in guest order.
 * With `fileSize` known, data and compressed ranges are checked against it; compressed ranges
 * that run past the end are clipped (qemu reads zeros there).
 */
export function decodeL2(table: Uint8Array, l1Index: number, h: Qcow2Header, out: RunList, fileSize?: number): void {
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const cs = h.clusterSize;
  const firstGuest = l1Index * l2Coverage(h);
  const entries = Math.min(h.l2Entries, Math.ceil((h.virtualSize - firstGuest) / cs));
  const offsetBits = 70 - h.clusterBits;
  const offsetHiMask = 2 ** (offsetBits - 32) - 1;
  const sectorMask = 2 ** (h.clusterBits - 8) - 1;
  for (let i = 0; i < entries; i++) {
    const at = i * h.l2EntrySize;
    const hi = view.getUint32(at);
    const lo = view.getUint32(at + 4);
    const guest = firstGuest + i * cs;
    const length = Math.min(cs, h.virtualSize - guest);
    if (hi & 0x40000000) {
      if (h.extendedL2 && (view.getUint32(at + 8) !== 0 || view.getUint32(at + 12) !== 0)) {
        throw invalid(`compressed cluster at guest offset ${guest} has a subcluster bitmap`);
      }
      const offHi = hi & offsetHiMask;
      const sectors = (hi >>> (offsetBits - 32)) & sectorMask;
      if (offHi > MAX_HI) throw new CdiError('CDI_ERR_QCOW2_OUT_OF_BOUNDS', ['compressed cluster', offHi * TWO_32 + lo]);
      const host = offHi * TWO_32 + lo;
      let hostLength = (sectors + 1) * 512 - (lo & 511);
      if (host < cs) throw invalid(`compressed cluster at guest offset ${guest} overlaps the header`);
      if (fileSize !== undefined) {
        if (host >= fileSize) throw new CdiError('CDI_ERR_QCOW2_OUT_OF_BOUNDS', ['compressed cluster', host]);
        hostLength = Math.min(hostLength, fileSize - host);
      }
      out.push(RUN_COMPRESSED, guest, host, length, hostLength);
      continue;
    }
    if ((hi & 0x3f000000) !== 0 || (lo & 0x1fe) !== 0) throw invalid(`L2 entry for guest offset ${guest} has reserved bits set`);
    const hostHi = hi & 0x00ffffff;
    if (hostHi > MAX_HI) throw new CdiError('CDI_ERR_QCOW2_OUT_OF_BOUNDS', ['data cluster', hostHi * TWO_32 + (lo & ~0x1ff)]);
    const host = hostHi * TWO_32 + ((lo & ~0x1ff) >>> 0);
    if (host % cs !== 0) throw invalid(`data cluster offset ${host} is not cluster aligned`);
    if (h.extendedL2) {
      if (lo & 1) throw invalid(`L2 entry for guest offset ${guest} has reserved bits set`);
      decodeSubclusters(view.getUint32(at + 12), view.getUint32(at + 8), guest, host, length, h, out, fileSize);
      continue;
    }
    if (lo & 1) {
      out.push(RUN_ZERO, guest, 0, length, 0);
    } else if (host !== 0) {
      checkData(host, length, fileSize);
      out.push(RUN_DATA, guest, host, length, length);
    }
  }
}

function checkData(host: number, length: number, fileSize?: number): void {
  if (fileSize !== undefined && host + length > fileSize) throw new CdiError('CDI_ERR_QCOW2_OUT_OF_BOUNDS', ['data cluster', host]);
}

function decodeSubclusters(
  alloc: number,
  zero: number,
  guest: number,
  host: number,
  length: number,
  h: Qcow2Header,
  out: RunList,
  fileSize?: number,
): void {
  if ((alloc & zero) !== 0) throw invalid(`subclusters at guest offset ${guest} are both allocated and zero`);
  if (host === 0 && alloc !== 0) throw invalid(`unallocated cluster at guest offset ${guest} has allocated subclusters`);
  if (host !== 0 && alloc === 0xffffffff) {
    checkData(host, length, fileSize);
    out.push(RUN_DATA, guest, host, length, length);
    return;
  }
  const sc = h.clusterSize / 32;
  for (let s = 0; s < 32; s++) {
    const start = s * sc;
    if (start >= length) break;
    const bit = 2 ** s;
    const len = Math.min(sc, length - start);
    if (Math.floor(alloc / bit) % 2 === 1) {
      checkData(host + start, len, fileSize);
      out.push(RUN_DATA, guest + start, host + start, len, len);
    } else if (Math.floor(zero / bit) % 2 === 1) {
      out.push(RUN_ZERO, guest + start, 0, len, 0);
    }
  }
}
