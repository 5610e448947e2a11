/**
 * VDI (VirtualBox) header and block map codec: parses the 512-byte header and the block map into
 * the values a reader needs, refusing every image qemu refuses and every one whose tables lie
 * (entries out of range or shared, a map overlapping the header or the data, blocks past the
 * end of the file). Layout: qemu `block/vdi.c`.
 */
import { CdiError } from '../../api/errors.ts';

/** The header sector; the fields a reader needs all sit in it. */
export const VDI_HEADER_BYTES = 512;
const SIGNATURE = 0xbeda107f;
const VERSION_1_1 = 0x00010001;
const TYPE_DYNAMIC = 1;
const TYPE_STATIC = 2;
const TYPE_UNDO = 3;
const TYPE_DIFF = 4;
/** Header bytes after the 0x48 prefix up to the end of the parent UUID: what qemu writes (VirtualBox writes 0x190). */
const MIN_HEADER_SIZE = 0x180;
const SECTOR = 512;
/** qemu reads only 1 MiB blocks, and VirtualBox writes nothing else. */
const VDI_BLOCK_SIZE = 1024 * 1024;
/** qemu's VDI_BLOCKS_IN_IMAGE_MAX and the disk size it allows. */
const MAX_BLOCKS = 0x3fffffff;
const MAX_DISK_SIZE = MAX_BLOCKS * VDI_BLOCK_SIZE;
/** The block map is read whole before any data: 32 MiB (8 TiB of disk), as qcow2's L1 limit. */
const MAX_MAP_BYTES = 32 * 1024 * 1024;

/** Block map entries at or above this are not allocated: 0xfffffffe discarded (zeros), 0xffffffff never written (zeros). */
const FIRST_UNALLOCATED = 0xfffffffe;
export const ENTRY_DISCARDED = 0xfffffffe;
export const ENTRY_UNALLOCATED = 0xffffffff;

export interface VdiHeader {
  readonly type: 'dynamic' | 'static';
  /** Guest bytes: the header's disk size rounded up to a sector, as qemu reads it. */
  readonly virtualSize: number;
  readonly blockSize: number;
  /** Entries of the block map, one per guest block. */
  readonly blocks: number;
  /** Data blocks stored in the file; map entries index them. */
  readonly blocksAllocated: number;
  readonly mapOffset: number;
  readonly mapBytes: number;
  readonly dataOffset: number;
}

function invalid(reason: string): CdiError {
  return new CdiError('CDI_ERR_VDI_INVALID', [reason]);
}

function isNullUuid(bytes: Uint8Array, at: number): boolean {
  for (let i = at; i < at + 16; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Parses the header sector; `fileSize`, when known (random access), bounds the block map. */
export function parseVdiHeader(bytes: Uint8Array, fileSize?: number): VdiHeader {
  if (bytes.byteLength < VDI_HEADER_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`the VDI header needs ${VDI_HEADER_BYTES} bytes, the image has ${bytes.byteLength}`]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, VDI_HEADER_BYTES);
  const u32 = (at: number): number => view.getUint32(at, true);
  if (u32(0x40) !== SIGNATURE) throw invalid('bad signature');
  const version = u32(0x44);
  if (version !== VERSION_1_1) throw invalid(`version ${version >>> 16}.${version & 0xffff} is not 1.1`);
  const headerSize = u32(0x48);
  if (headerSize < MIN_HEADER_SIZE || headerSize > VDI_HEADER_BYTES - 0x48) throw invalid(`header size ${headerSize} is outside ${MIN_HEADER_SIZE}..${VDI_HEADER_BYTES - 0x48}`);
  const imageType = u32(0x4c);
  if (imageType === TYPE_DIFF || imageType === TYPE_UNDO) throw new CdiError('CDI_ERR_VDI_DIFFERENCING', [`image type ${imageType}`]);
  if (imageType !== TYPE_DYNAMIC && imageType !== TYPE_STATIC) throw invalid(`image type ${imageType} is neither dynamic (1) nor static (2)`);
  if (!isNullUuid(bytes, 0x1a8)) throw new CdiError('CDI_ERR_VDI_DIFFERENCING', ['it links to a parent image']);
  if (!isNullUuid(bytes, 0x1b8)) throw new CdiError('CDI_ERR_VDI_DIFFERENCING', ['it has a parent UUID']);
  const mapOffset = u32(0x154);
  const dataOffset = u32(0x158);
  if (mapOffset % SECTOR !== 0) throw invalid(`block map offset ${mapOffset} is not sector aligned`);
  if (dataOffset % SECTOR !== 0) throw invalid(`data offset ${dataOffset} is not sector aligned`);
  const sectorSize = u32(0x168);
  if (sectorSize !== SECTOR) throw invalid(`sector size ${sectorSize} is not ${SECTOR}`);
  const diskSize = view.getBigUint64(0x170, true);
  if (diskSize > BigInt(MAX_DISK_SIZE)) throw invalid(`disk size ${diskSize} is larger than the VDI maximum ${MAX_DISK_SIZE}`);
  const virtualSize = Math.ceil(Number(diskSize) / SECTOR) * SECTOR;
  const blockSize = u32(0x178);
  if (blockSize !== VDI_BLOCK_SIZE) throw invalid(`block size ${blockSize} is not ${VDI_BLOCK_SIZE}`);
  const blockExtra = u32(0x17c);
  if (blockExtra !== 0) throw invalid(`per-block extra data of ${blockExtra} bytes is not supported`);
  const blocks = u32(0x180);
  const needed = Math.ceil(virtualSize / blockSize);
  if (blocks !== needed) throw invalid(`the block map has ${blocks} entries, a disk of ${virtualSize} bytes needs ${needed}`);
  const mapBytes = blocks * 4;
  if (mapBytes > MAX_MAP_BYTES) throw invalid(`a block map of ${mapBytes} bytes is larger than ${MAX_MAP_BYTES}`);
  const blocksAllocated = u32(0x184);
  if (blocksAllocated > blocks) throw invalid(`${blocksAllocated} allocated blocks is more than the ${blocks} the disk has`);
  if (mapOffset < 0x48 + headerSize) throw invalid(`the block map at ${mapOffset} overlaps the header`);
  if (dataOffset < 0x48 + headerSize) throw invalid(`the data area at ${dataOffset} overlaps the header`);
  const dataEnd = dataOffset + blocksAllocated * blockSize;
  if (mapBytes > 0 && blocksAllocated > 0 && mapOffset < dataEnd && dataOffset < mapOffset + mapBytes) {
    throw invalid(`the block map [${mapOffset}, ${mapOffset + mapBytes}) overlaps the data area [${dataOffset}, ${dataEnd})`);
  }
  if (fileSize !== undefined && mapOffset + mapBytes > fileSize) throw new CdiError('CDI_ERR_VDI_OUT_OF_BOUNDS', ['block map', mapOffset]);
  return {
    type: imageType === TYPE_STATIC ? 'static' : 'dynamic',
    virtualSize,
    blockSize,
    blocks,
    blocksAllocated,
    mapOffset,
    mapBytes,
    dataOffset,
  };
}

/**
 * Decodes the block map: entry i is the data block holding guest block i, or ENTRY_DISCARDED /
 * ENTRY_UNALLOCATED. Every allocated entry must be below the allocated count, used once, and
 * (when the file size is known) lie wholly inside the file: qemu reads a block past the end as
 * zeros, we refuse it.
 */
export function decodeVdiMap(bytes: Uint8Array, h: VdiHeader, fileSize?: number): Uint32Array {
  if (bytes.byteLength < h.mapBytes) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the VDI block map at ${h.mapOffset}`]);
  const view = new DataView(bytes.buffer, bytes.byteOffset, h.mapBytes);
  const map = new Uint32Array(h.blocks);
  const owner = new Int32Array(h.blocksAllocated).fill(-1);
  for (let i = 0; i < h.blocks; i++) {
    const entry = view.getUint32(i * 4, true);
    map[i] = entry;
    if (entry >= FIRST_UNALLOCATED) continue;
    if (entry >= h.blocksAllocated) throw invalid(`guest block ${i} maps to data block ${entry}, the image has ${h.blocksAllocated}`);
    if (owner[entry] !== -1) throw invalid(`guest blocks ${owner[entry]} and ${i} both map to data block ${entry}`);
    owner[entry] = i;
    const host = h.dataOffset + entry * h.blockSize;
    if (fileSize !== undefined && host + h.blockSize > fileSize) throw new CdiError('CDI_ERR_VDI_OUT_OF_BOUNDS', ['data block', host]);
  }
  return map;
}
