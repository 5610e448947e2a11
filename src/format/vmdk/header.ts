/**
 * VMDK hosted sparse extent header codec (the 512-byte "KDMV" sector, also used as the footer of
 * streamOptimized images) and the markers of streamOptimized images. Refuses every header a
 * converter cannot or must not read. Layout: VMware's Virtual Disk Format 5.0 specification, qemu `block/vmdk.c`.
 */
import { CdiError } from '../../api/errors.ts';

export const SECTOR = 512;

/** Whole sectors that `bytes` bytes take. */
export const sectorsOf = (bytes: number): number => Math.ceil(bytes / SECTOR);
const VMDK4_MAGIC = 0x564d444b; // "KDMV" read little-endian
const VMDK3_MAGIC = 0x44574f43; // "COWD"

const FLAG_NL_DETECT = 1 << 0;
const FLAG_ZERO_GRAIN = 1 << 2;
const FLAG_COMPRESSED = 1 << 16;
const FLAG_MARKERS = 1 << 17;
const COMPRESS_DEFLATE = 1;

/** 0xffffffffffffffff as gdOffset: the grain directory is located by the footer. */
const GD_AT_END = 0xffffffffffffffffn;
/** Grains above 2 MiB are not made by any VMware product or qemu, and would not fit a pooled buffer. */
const MAX_GRAIN_SECTORS = 4096;
/** qemu refuses grain tables above 512 entries ("L2 table size too big"). */
const MAX_GTES_PER_GT = 512;
/** A grain directory above 16 MiB (4 Mi tables, 128 TiB with 64 KiB grains) is refused rather than allocated. */
const MAX_GD_ENTRIES = 4 * 1024 * 1024;

export const MARKER_EOS = 0;
export const MARKER_GT = 1;
export const MARKER_GD = 2;
export const MARKER_FOOTER = 3;

export interface SparseHeader {
  readonly version: number;
  /** Guest bytes (capacity in sectors × 512). */
  readonly virtualSize: number;
  readonly grainSize: number;
  readonly grainSectors: number;
  readonly gtEntries: number;
  /** Grain directory entries needed to cover the capacity. */
  readonly gdEntries: number;
  /** Byte offset of the grain directory, or -1 when the footer holds it. */
  readonly gdOffset: number;
  /** First byte of grain space: everything before it is header, descriptor and tables. */
  readonly overhead: number;
  readonly descriptorOffset: number;
  readonly descriptorSize: number;
  readonly zeroGrains: boolean;
  /** streamOptimized: deflate grains behind markers. */
  readonly compressed: boolean;
}

export function invalid(reason: string): CdiError {
  return new CdiError('CDI_ERR_VMDK_INVALID', [reason]);
}

export function unsupported(reason: string): CdiError {
  return new CdiError('CDI_ERR_VMDK_UNSUPPORTED', [reason]);
}

/** A sector count as a byte offset, refusing values a JS number cannot hold exactly. */
function sectorsToBytes(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) / 512n) throw invalid(`${what} ${value} is out of range`);
  return Number(value) * SECTOR;
}

/** Parses a sparse extent header (or footer) sector. `fileSize`, when known, bounds the layout. */
export function parseSparseHeader(sector: Uint8Array, fileSize?: number): SparseHeader {
  if (sector.byteLength < SECTOR) throw new CdiError('CDI_ERR_TRUNCATED', ['vmdk header is incomplete']);
  const view = new DataView(sector.buffer, sector.byteOffset, SECTOR);
  const magic = view.getUint32(0, true);
  if (magic === VMDK3_MAGIC) throw unsupported('ESX Server 2 (COWD, vmfsSparse) extents are not supported');
  if (magic !== VMDK4_MAGIC) throw invalid('bad magic');
  const version = view.getUint32(4, true);
  if (version < 1 || version > 3) throw unsupported(`version ${version}`);
  const flags = view.getUint32(8, true);
  if (flags & FLAG_NL_DETECT) {
    const nl = [view.getUint8(73), view.getUint8(74), view.getUint8(75), view.getUint8(76)];
    if (nl[0] !== 0x0a || nl[1] !== 0x20 || nl[2] !== 0x0d || nl[3] !== 0x0a) {
      throw invalid('the newline detection bytes are damaged (was the file transferred in text mode?)');
    }
  }
  const algorithm = view.getUint16(77, true);
  if (algorithm !== 0 && algorithm !== COMPRESS_DEFLATE) throw unsupported(`compression algorithm ${algorithm}`);
  const compressed = algorithm === COMPRESS_DEFLATE;
  if (compressed && !(flags & FLAG_MARKERS)) throw unsupported('compressed grains without markers');
  if (!compressed && flags & (FLAG_MARKERS | FLAG_COMPRESSED)) throw invalid('compression flags are set without a compression algorithm');

  const capacity = view.getBigUint64(12, true);
  const virtualSize = sectorsToBytes(capacity, 'capacity');
  const grainSectorsBig = view.getBigUint64(20, true);
  if (grainSectorsBig === 0n || (grainSectorsBig & (grainSectorsBig - 1n)) !== 0n) throw invalid(`grain size of ${grainSectorsBig} sectors is not a power of two`);
  if (grainSectorsBig > BigInt(MAX_GRAIN_SECTORS)) throw unsupported(`grain size of ${grainSectorsBig} sectors (at most ${MAX_GRAIN_SECTORS})`);
  const grainSectors = Number(grainSectorsBig);
  const gtEntries = view.getUint32(44, true);
  if (gtEntries === 0 || gtEntries > MAX_GTES_PER_GT) throw invalid(`grain tables of ${gtEntries} entries (1 to ${MAX_GTES_PER_GT})`);
  const grainSize = grainSectors * SECTOR;
  const gdEntries = Math.ceil(virtualSize / (grainSize * gtEntries));
  if (gdEntries > MAX_GD_ENTRIES) throw invalid(`a grain directory of ${gdEntries} entries is too large`);

  const descriptorOffset = sectorsToBytes(view.getBigUint64(28, true), 'descriptor offset');
  const descriptorSize = sectorsToBytes(view.getBigUint64(36, true), 'descriptor size');
  const gdRaw = view.getBigUint64(56, true);
  const gdOffset = gdRaw === GD_AT_END ? -1 : sectorsToBytes(gdRaw, 'grain directory offset');
  if (gdOffset === -1 && !compressed) throw invalid('the grain directory is at the end but the grains have no markers');
  const overhead = sectorsToBytes(view.getBigUint64(64, true), 'grain offset');
  if (overhead < SECTOR) throw invalid(`grain space starts at ${overhead}, inside the header`);
  if (descriptorSize > 0 && (descriptorOffset < SECTOR || descriptorOffset + descriptorSize > overhead)) {
    throw invalid(`the descriptor at ${descriptorOffset} (${descriptorSize} bytes) is not between the header and the grains`);
  }
  if (gdOffset !== -1 && gdOffset < SECTOR) throw invalid('the grain directory overlaps the header');
  if (fileSize !== undefined && overhead > fileSize) {
    throw new CdiError('CDI_ERR_TRUNCATED', [`vmdk grain space starts at ${overhead}, the file has ${fileSize} bytes`]);
  }
  return {
    version,
    virtualSize,
    grainSize,
    grainSectors,
    gtEntries,
    gdEntries,
    gdOffset,
    overhead,
    descriptorOffset,
    descriptorSize,
    zeroGrains: Boolean(flags & FLAG_ZERO_GRAIN),
    compressed,
  };
}

/** The footer of a streamOptimized image must describe the same disk as its header. */
export function checkFooter(header: SparseHeader, footer: SparseHeader): SparseHeader {
  if (footer.gdOffset === -1) throw invalid('the footer does not locate the grain directory');
  if (footer.virtualSize !== header.virtualSize || footer.grainSize !== header.grainSize || footer.gtEntries !== header.gtEntries
    || footer.compressed !== header.compressed) {
    throw invalid('the footer and the header describe different disks');
  }
  return footer;
}

export interface Marker {
  /** Grain marker: the grain's first guest sector; metadata marker: sectors of metadata that follow. */
  readonly value: number;
  /** Compressed bytes of a grain; 0 for a metadata marker, whose type follows in the next 4 bytes. */
  readonly size: number;
}

/** Decodes the first 12 bytes of a marker sector. */
export function parseMarker(bytes: Uint8Array, at = 0): Marker {
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, 12);
  const hi = view.getUint32(4, true);
  if (hi > 0x1fffff) throw invalid(`marker value ${view.getBigUint64(0, true)} is out of range`);
  return { value: hi * 0x100000000 + view.getUint32(0, true), size: view.getUint32(8, true) };
}

/** The most compressed bytes one grain may take: zlib's compressBound of a grain. */
export function maxCompressedGrain(grainSize: number): number {
  return grainSize + (grainSize >>> 12) + (grainSize >>> 14) + 13;
}

/** Validates a grain marker's guest sector against the disk and returns the guest byte offset. */
export function grainGuest(h: SparseHeader, marker: Marker): number {
  const guest = marker.value * SECTOR;
  if (marker.value % h.grainSectors !== 0) throw invalid(`grain marker at guest sector ${marker.value} is not grain aligned`);
  if (guest >= h.virtualSize) throw new CdiError('CDI_ERR_VMDK_OUT_OF_BOUNDS', ['grain marker guest', guest]);
  if (marker.size > maxCompressedGrain(h.grainSize)) throw invalid(`grain at guest offset ${guest} claims ${marker.size} compressed bytes`);
  return guest;
}
