/**
 * The VHD footer (512 bytes, big-endian; a copy opens a dynamic disk, the original ends every
 * disk) and the virtual size as qemu's `vpc` driver derives it: from the CHS geometry, unless the
 * creator application is one known to size disks by `current_size` or the geometry is the
 * largest there is (then the exact size is all there is to go by).
 */
import { CdiError } from '../../api/errors.ts';

export const FOOTER_BYTES = 512;
export const SECTOR = 512;
export const DISK_FIXED = 2;
const DISK_DYNAMIC = 3;
const DISK_DIFFERENCING = 4;

/** qemu refuses VHDs larger than 2040 GiB (the format's limit for Hyper-V and Virtual PC). */
export const MAX_VIRTUAL_SIZE = 2040 * 1024 ** 3;
const MAX_GEOMETRY = 65535 * 16 * 255;
/** Creator applications that size disks by `current_size`: Hyper-V, qemu's `force_size`, disk2vhd, XenConverter, XenServer, Azure. */
const SIZED_BY_CURRENT_SIZE = ['win ', 'qem2', 'd2v ', 'CTXS', 'tap\0', 'wa\0\0'];

export interface VhdFooter {
  readonly diskType: number;
  /** Host offset of the dynamic disk header (dynamic and differencing disks). */
  readonly dataOffset: number;
  readonly creatorApp: string;
  readonly currentSize: number;
  readonly virtualSize: number;
}

const COOKIE = 'conectix';

export function hasCookie(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 8 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('latin1') === COOKIE;
}

/** One's complement of the byte sum, the stored checksum's 4 bytes counted as zeros. */
export function vhdChecksum(bytes: Uint8Array, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < bytes.byteLength; i++) if (i < checksumAt || i >= checksumAt + 4) sum += bytes[i]!;
  return ~sum >>> 0;
}

export function parseFooter(bytes: Uint8Array, where: string): VhdFooter {
  const invalid = (reason: string): CdiError => new CdiError('CDI_ERR_VHD_INVALID', [`${where}: ${reason}`]);
  if (bytes.byteLength < FOOTER_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`the VHD ${where} needs ${FOOTER_BYTES} bytes, got ${bytes.byteLength}`]);
  if (!hasCookie(bytes)) throw invalid('no "conectix" cookie');
  const view = new DataView(bytes.buffer, bytes.byteOffset, FOOTER_BYTES);
  const stored = view.getUint32(64);
  const computed = vhdChecksum(bytes.subarray(0, FOOTER_BYTES), 64);
  if (stored !== computed) throw invalid(`footer checksum is 0x${hex(stored)}, the footer sums to 0x${hex(computed)}`);
  const diskType = view.getUint32(60);
  if (diskType === DISK_DIFFERENCING) throw new CdiError('CDI_ERR_VHD_UNSUPPORTED', ['it is a differencing disk: its data is in a parent image, which an import cannot follow']);
  if (diskType !== DISK_FIXED && diskType !== DISK_DYNAMIC) throw invalid(`unknown disk type ${diskType}`);
  const creatorApp = Buffer.from(bytes.buffer, bytes.byteOffset + 28, 4).toString('latin1');
  const currentSize = u64(view, 48, invalid, 'current size');
  const geometry = view.getUint16(56) * view.getUint8(58) * view.getUint8(59);
  const exact = SIZED_BY_CURRENT_SIZE.includes(creatorApp) || geometry === MAX_GEOMETRY;
  const sectors = exact ? Math.floor(currentSize / SECTOR) : geometry;
  const virtualSize = sectors * SECTOR;
  if (virtualSize > MAX_VIRTUAL_SIZE) throw invalid(`virtual size ${virtualSize} is larger than the 2040 GiB VHD maximum`);
  const dataOffset = diskType === DISK_DYNAMIC ? u64(view, 16, invalid, 'data offset') : 0;
  return { diskType, dataOffset, creatorApp, currentSize, virtualSize };
}

export function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}

/** A big-endian u64 that must fit a JavaScript number exactly. */
export function u64(view: DataView, at: number, invalid: (reason: string) => CdiError, what: string): number {
  const value = view.getBigUint64(at);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} 0x${value.toString(16)} is out of range`);
  return Number(value);
}
