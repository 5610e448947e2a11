/**
 * Writes VMDK layouts qemu-img does not make, from a raw image, for tests: an ESXi-style
 * streamOptimized image (grain tables and the grain directory after the grains behind markers,
 * the directory located by the footer) and a monolithicSparse image whose tables follow its
 * grains. qemu-img reads both; it is the reference for what they contain.
 */
import { deflateSync } from 'node:zlib';

const SECTOR = 512;
const GT_ENTRIES = 512;

export interface WriterOptions {
  readonly compressed: boolean;
  readonly grainSectors?: number;
  /** Replaces the bytes stored for grain `index` (before compression): for hostile images. */
  readonly grainBytes?: (index: number, grain: Buffer) => Buffer;
}

const roundUp = (n: number): number => Math.ceil(n / SECTOR) * SECTOR;

function header(capacitySectors: number, grainSectors: number, compressed: boolean, gdSector: bigint, overheadSectors: number): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write('KDMV', 0, 'latin1');
  h.writeUInt32LE(compressed ? 3 : 1, 4);
  h.writeUInt32LE(compressed ? 0x30001 : 0x1, 8);
  h.writeBigUInt64LE(BigInt(capacitySectors), 12);
  h.writeBigUInt64LE(BigInt(grainSectors), 20);
  h.writeBigUInt64LE(1n, 28);
  h.writeBigUInt64LE(2n, 36);
  h.writeUInt32LE(GT_ENTRIES, 44);
  h.writeBigUInt64LE(gdSector, 56);
  h.writeBigUInt64LE(BigInt(overheadSectors), 64);
  h.write('\n \r\n', 73, 'latin1');
  h.writeUInt16LE(compressed ? 1 : 0, 77);
  return h;
}

function descriptor(capacitySectors: number, compressed: boolean): Buffer {
  const text = `# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType="${compressed ? 'streamOptimized' : 'monolithicSparse'}"\n\n`
    + `# Extent description\nRW ${capacitySectors} SPARSE "disk.vmdk"\n\nddb.adapterType = "lsilogic"\n`;
  const out = Buffer.alloc(2 * SECTOR);
  out.write(text, 'latin1');
  return out;
}

function metadataMarker(sectors: number, type: number): Buffer {
  const m = Buffer.alloc(SECTOR);
  m.writeBigUInt64LE(BigInt(sectors), 0);
  m.writeUInt32LE(type, 12);
  return m;
}

function isZero(b: Buffer): boolean {
  return b.every((x) => x === 0);
}

/** The image for `raw` (whose size must be a multiple of 512). */
export function writeVmdk(raw: Buffer, opts: WriterOptions): Buffer {
  const grainSectors = opts.grainSectors ?? 128;
  const grain = grainSectors * SECTOR;
  const capacity = raw.byteLength / SECTOR;
  const grains = Math.ceil(raw.byteLength / grain);
  const tables = Math.ceil(grains / GT_ENTRIES);
  const gtBytes = GT_ENTRIES * 4;
  const overhead = 3;
  const parts: Buffer[] = [];
  let at = overhead * SECTOR;
  const push = (b: Buffer): number => {
    const start = at;
    parts.push(b);
    at += b.byteLength;
    return start;
  };
  const gd = Buffer.alloc(roundUp(tables * 4));
  const gts = Array.from({ length: tables }, () => Buffer.alloc(gtBytes));
  for (let t = 0; t < tables; t++) {
    for (let e = 0; e < GT_ENTRIES; e++) {
      const g = t * GT_ENTRIES + e;
      if (g >= grains) break;
      const data = raw.subarray(g * grain, (g + 1) * grain);
      if (isZero(data)) continue;
      let full: Buffer = Buffer.alloc(grain);
      data.copy(full);
      if (opts.grainBytes) full = opts.grainBytes(g, full);
      let host: number;
      if (opts.compressed) {
        const z = deflateSync(full);
        const rec = Buffer.alloc(roundUp(12 + z.byteLength));
        rec.writeBigUInt64LE(BigInt(g * grainSectors), 0);
        rec.writeUInt32LE(z.byteLength, 8);
        z.copy(rec, 12);
        host = push(rec);
      } else {
        host = push(full);
      }
      gts[t]!.writeUInt32LE(host / SECTOR, e * 4);
    }
    if (opts.compressed) {
      push(metadataMarker(gtBytes / SECTOR, 1));
      gd.writeUInt32LE(push(gts[t]!) / SECTOR, t * 4);
    }
  }
  if (!opts.compressed) {
    const gdAt = push(gd);
    for (let t = 0; t < tables; t++) gd.writeUInt32LE(push(gts[t]!) / SECTOR, t * 4);
    return Buffer.concat([header(capacity, grainSectors, false, BigInt(gdAt / SECTOR), overhead), descriptor(capacity, false), ...parts]);
  }
  push(metadataMarker(gd.byteLength / SECTOR, 2));
  const gdAt = push(gd);
  push(metadataMarker(1, 3));
  push(header(capacity, grainSectors, true, BigInt(gdAt / SECTOR), overhead));
  push(metadataMarker(0, 0));
  return Buffer.concat([header(capacity, grainSectors, true, 0xffffffffffffffffn, overhead), descriptor(capacity, true), ...parts]);
}
