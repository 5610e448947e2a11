/**
 * qcow2 header codec: parses cluster 0 (fixed header and header extensions) into the values a
 * reader needs, and refuses every image a one-pass converter cannot or must not read.
 * Layout: qemu `docs/interop/qcow2.txt` (header, extensions, feature bits) and `block/qcow2.h`.
 */
import { CdiError } from '../../api/errors.ts';

const QCOW2_MAGIC = 0x514649fb;
const V2_HEADER_LENGTH = 72;
const V3_HEADER_LENGTH = 104;
/** qemu's QCOW_MAX_L1_SIZE: 32 MiB of L1 entries. */
const MAX_L1_BYTES = 32 * 1024 * 1024;
/** qemu's QCOW_MAX_REFTABLE_SIZE. */
const MAX_REFTABLE_BYTES = 8 * 1024 * 1024;
const MAX_SNAPSHOTS = 65536;

const INCOMPAT_DIRTY = 0x1;
const INCOMPAT_CORRUPT = 0x2;
const INCOMPAT_DATA_FILE = 0x4;
const INCOMPAT_COMPRESSION = 0x8;
const INCOMPAT_EXTL2 = 0x10;
const INCOMPAT_KNOWN = 0x1f;

const EXT_END = 0x00000000;
const EXT_FEATURE_TABLE = 0x6803f857;
const EXT_CRYPTO_HEADER = 0x0537be77;
const EXT_DATA_FILE = 0x44415441;

type CompressionType = 'zlib' | 'zstd';

export interface Qcow2Header {
  readonly version: 2 | 3;
  readonly clusterBits: number;
  readonly clusterSize: number;
  /** Guest bytes; qemu reads the header size in whole 512-byte sectors. */
  readonly virtualSize: number;
  readonly l1Offset: number;
  /** Entries of the active L1 a reader needs to cover virtualSize. */
  readonly l1Entries: number;
  readonly refcountTableOffset: number;
  readonly refcountTableBytes: number;
  readonly extendedL2: boolean;
  /** Bytes per L2 entry: 8, or 16 with extended L2 entries. */
  readonly l2EntrySize: number;
  /** Entries per L2 table (one cluster). */
  readonly l2Entries: number;
  readonly compression: CompressionType;
  readonly dirty: boolean;
}

/** Bytes a parser needs before it can tell the cluster size. */
export const HEADER_PREFIX_BYTES = V2_HEADER_LENGTH;

function invalid(reason: string): CdiError {
  return new CdiError('CDI_ERR_QCOW2_INVALID', [reason]);
}

/** Reads a u64 as a number, refusing values a JS number cannot hold exactly. */
function u64(view: DataView, at: number, what: string): number {
  const hi = view.getUint32(at);
  const lo = view.getUint32(at + 4);
  if (hi > 0x1fffff) throw invalid(`${what} ${view.getBigUint64(at)} is out of range`);
  return hi * 0x100000000 + lo;
}

/** The cluster size declared by a header prefix, validated, so a reader knows how much of cluster 0 to fetch. */
export function peekClusterSize(prefix: Uint8Array): number {
  if (prefix.byteLength < 24) throw new CdiError('CDI_ERR_TRUNCATED', ['qcow2 header is incomplete']);
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  if (view.getUint32(0) !== QCOW2_MAGIC) throw invalid('bad magic');
  // qemu-img calls version 1 'qcow', a format CDI refuses (its header has no cluster_bits here).
  if (view.getUint32(4) === 1) throw new CdiError('CDI_ERR_INVALID_FORMAT', ['qcow', 'source']);
  const bits = view.getUint32(20);
  if (bits < 9 || bits > 21) throw invalid(`cluster_bits ${bits} is outside 9..21`);
  return 2 ** bits;
}

interface Extensions {
  featureNames: Map<string, string>;
}

function readExtensions(view: DataView, start: number, end: number): Extensions {
  const ext: Extensions = { featureNames: new Map() };
  const seen = new Set<number>();
  let at = start;
  while (at + 8 <= end) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === EXT_END) return ext;
    const data = at + 8;
    if (length > end - data) throw invalid(`header extension 0x${type.toString(16)} overruns the header cluster`);
    if (seen.has(type)) throw invalid(`header extension 0x${type.toString(16)} appears twice`);
    seen.add(type);
    const bytes = new Uint8Array(view.buffer, view.byteOffset + data, length);
    switch (type) {
      case EXT_FEATURE_TABLE:
        for (let e = 0; e + 48 <= length; e += 48) {
          const name = Buffer.from(bytes.subarray(e + 2, e + 48)).toString('latin1').replace(/\0.*$/s, '');
          ext.featureNames.set(`${bytes[e]}:${bytes[e + 1]}`, name);
        }
        break;
      case EXT_CRYPTO_HEADER:
        throw new CdiError('CDI_ERR_QCOW2_ENCRYPTED', ['luks']);
      case EXT_DATA_FILE:
        throw new CdiError('CDI_ERR_QCOW2_DATA_FILE');
      default:
        break; // bitmaps and unknown extensions do not change how guest data is read
    }
    at = data + Math.ceil(length / 8) * 8;
  }
  if (at < end) throw invalid('header extension area is truncated');
  return ext;
}

/**
 * Parses cluster 0. `cluster0` holds the first min(clusterSize, fileSize) bytes of the image;
 * `fileSize` (when known) bounds every table offset.
 */
export function parseHeader(cluster0: Uint8Array, fileSize?: number): Qcow2Header {
  const clusterSize = peekClusterSize(cluster0);
  if (cluster0.byteLength < V2_HEADER_LENGTH) throw new CdiError('CDI_ERR_TRUNCATED', ['qcow2 header is incomplete']);
  const view = new DataView(cluster0.buffer, cluster0.byteOffset, cluster0.byteLength);
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3) throw invalid(`unsupported version ${version}`);
  const clusterBits = view.getUint32(20);
  const area = Math.min(clusterSize, cluster0.byteLength);

  let incompatible = 0n;
  let headerLength = V2_HEADER_LENGTH;
  let compressionByte = 0;
  if (version === 3) {
    if (cluster0.byteLength < V3_HEADER_LENGTH) throw new CdiError('CDI_ERR_TRUNCATED', ['qcow2 header is incomplete']);
    incompatible = view.getBigUint64(72);
    headerLength = view.getUint32(100);
    if (headerLength < V3_HEADER_LENGTH || headerLength % 8 !== 0 || headerLength > clusterSize) {
      throw invalid(`header_length ${headerLength} is not a multiple of 8 between ${V3_HEADER_LENGTH} and the cluster size`);
    }
    if (headerLength > area) throw new CdiError('CDI_ERR_TRUNCATED', ['qcow2 header is incomplete']);
    const refcountOrder = view.getUint32(96);
    if (refcountOrder > 6) throw invalid(`refcount_order ${refcountOrder} is above 6`);
    if (headerLength > V3_HEADER_LENGTH) compressionByte = view.getUint8(104);
  }

  const backingOffset = u64(view, 8, 'backing_file_offset');
  const backingEnd = backingOffset > 0 ? Math.min(backingOffset, area) : area;
  if (backingOffset !== 0) {
    const length = Math.min(view.getUint32(16), 1023);
    const name = backingOffset + length <= cluster0.byteLength
      ? Buffer.from(cluster0.subarray(backingOffset, backingOffset + length)).toString('latin1')
      : '(unreadable)';
    throw new CdiError('CDI_ERR_QCOW2_BACKING_FILE', [name]);
  }
  const ext = readExtensions(view, headerLength, Math.max(headerLength, backingEnd));
  const cryptMethod = view.getUint32(32);
  if (cryptMethod === 1) throw new CdiError('CDI_ERR_QCOW2_ENCRYPTED', ['aes']);
  if (cryptMethod === 2) throw new CdiError('CDI_ERR_QCOW2_ENCRYPTED', ['luks']);
  if (cryptMethod !== 0) throw new CdiError('CDI_ERR_QCOW2_ENCRYPTED', [`crypt_method ${cryptMethod}`]);

  const unknown = incompatible & ~BigInt(INCOMPAT_KNOWN);
  if (unknown !== 0n) {
    const names: string[] = [];
    for (let bit = 0; bit < 64; bit++) {
      if (unknown & (1n << BigInt(bit))) names.push(ext.featureNames.get(`0:${bit}`) ?? `bit ${bit}`);
    }
    throw new CdiError('CDI_ERR_QCOW2_FEATURE', [`${unknown.toString(16)} (${names.join(', ')})`]);
  }
  const incompat = Number(incompatible);
  if (incompat & INCOMPAT_DATA_FILE) throw new CdiError('CDI_ERR_QCOW2_DATA_FILE');
  if (incompat & INCOMPAT_CORRUPT) throw invalid('the image is marked corrupt');

  let compression: CompressionType = 'zlib';
  if (compressionByte === 1) compression = 'zstd';
  else if (compressionByte !== 0) throw invalid(`unknown compression_type ${compressionByte}`);
  if ((compressionByte !== 0) !== Boolean(incompat & INCOMPAT_COMPRESSION)) {
    throw invalid('compression_type and the compression feature bit disagree');
  }
  const extendedL2 = Boolean(incompat & INCOMPAT_EXTL2);
  if (extendedL2 && clusterBits < 14) throw invalid('extended L2 entries need clusters of at least 16 KiB');

  const rawSize = view.getBigUint64(24);
  if (rawSize > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`virtual size ${rawSize} is out of range`);
  const virtualSize = Math.floor(Number(rawSize) / 512) * 512;

  const l2EntrySize = extendedL2 ? 16 : 8;
  const l2Entries = clusterSize / l2EntrySize;
  const l1Size = view.getUint32(36);
  if (l1Size * 8 > MAX_L1_BYTES) throw new CdiError('CDI_ERR_QCOW2_L1_TOO_BIG', [`${l1Size} entries`]);
  const l1Entries = Math.ceil(virtualSize / (clusterSize * l2Entries));
  if (l1Size < l1Entries) {
    if (l1Entries * 8 > MAX_L1_BYTES) throw new CdiError('CDI_ERR_QCOW2_L1_TOO_BIG', [`virtual size ${virtualSize} needs ${l1Entries} entries`]);
    throw invalid(`L1 table has ${l1Size} entries but the virtual size needs ${l1Entries}`);
  }
  const l1Offset = u64(view, 40, 'l1_table_offset');
  checkTable('L1 table', l1Offset, l1Entries * 8, clusterSize, fileSize);

  const refcountTableOffset = u64(view, 48, 'refcount_table_offset');
  const refcountTableBytes = view.getUint32(56) * clusterSize;
  if (refcountTableBytes > MAX_REFTABLE_BYTES) throw invalid(`refcount table of ${refcountTableBytes} bytes is too large`);
  if (refcountTableOffset % clusterSize !== 0) throw invalid('refcount table offset is not cluster aligned');
  if (view.getUint32(60) > MAX_SNAPSHOTS) throw invalid('too many snapshots');

  return {
    version,
    clusterBits,
    clusterSize,
    virtualSize,
    l1Offset,
    l1Entries,
    refcountTableOffset,
    refcountTableBytes,
    extendedL2,
    l2EntrySize,
    l2Entries,
    compression,
    dirty: Boolean(incompat & INCOMPAT_DIRTY),
  };
}

/** A table must be cluster aligned, clear of the header cluster and (when the size is known) inside the file. */
function checkTable(what: string, offset: number, length: number, clusterSize: number, fileSize?: number): void {
  if (length === 0) return;
  if (offset % clusterSize !== 0) throw invalid(`${what} offset ${offset} is not cluster aligned`);
  if (offset < clusterSize) throw invalid(`${what} overlaps the header`);
  if (fileSize !== undefined && offset + length > fileSize) {
    throw new CdiError('CDI_ERR_QCOW2_OUT_OF_BOUNDS', [what, offset]);
  }
}
