/**
 * Compressed cluster codec: inflates one qcow2 compressed range into exactly one cluster.
 * zlib clusters are raw deflate (qemu uses a 4 KiB window, no header, no adler32); zstd clusters
 * are one or more plain zstd frames. The range read from the image ends on a sector boundary, so
 * its tail may hold the start of the next compressed cluster: only the cluster's own stream is
 * decoded. Throws plain Errors; callers attach the guest offset and the coded error.
 */
import zlib from 'node:zlib';

export type Codec = 'zlib' | 'zstd';

const ZSTD_MAGIC = 0xfd2fb528;
const DICT_ID_BYTES = [0, 1, 2, 4];

/** End of the zstd frame starting at `at`, or -1 when the bytes do not hold a whole frame. */
export function zstdFrameEnd(b: Uint8Array, at: number): number {
  if (at + 6 > b.byteLength) return -1;
  const magic = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  if (magic !== ZSTD_MAGIC) return -1;
  const fhd = b[at + 4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const fcsBytes = fcsFlag === 0 ? single : 2 ** fcsFlag;
  let p = at + 5 + (single ? 0 : 1) + DICT_ID_BYTES[fhd & 3]! + fcsBytes;
  for (;;) {
    if (p + 3 > b.byteLength) return -1;
    const hdr = b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16);
    const type = (hdr >> 1) & 3;
    if (type === 3) return -1;
    p += 3 + (type === 1 ? 1 : hdr >>> 3);
    if (hdr & 1) break;
  }
  if (fhd & 4) p += 4;
  return p <= b.byteLength ? p : -1;
}

function inflateZstd(input: Uint8Array, clusterSize: number): Uint8Array {
  const parts: Buffer[] = [];
  let produced = 0;
  let at = 0;
  while (produced < clusterSize) {
    const end = zstdFrameEnd(input, at);
    if (end < 0) throw new Error('zstd frame is incomplete or invalid');
    const part = zlib.zstdDecompressSync(input.subarray(at, end), { maxOutputLength: clusterSize - produced || 1 });
    parts.push(part);
    produced += part.byteLength;
    at = end;
  }
  return parts.length === 1 ? parts[0]! : Buffer.concat(parts, produced);
}

/** Inflates `input` to exactly `clusterSize` bytes or throws. */
export function inflateCluster(codec: Codec, input: Uint8Array, clusterSize: number): Uint8Array {
  let out: Uint8Array;
  try {
    out = codec === 'zstd'
      ? inflateZstd(input, clusterSize)
      : zlib.inflateRawSync(input, { maxOutputLength: clusterSize, finishFlush: zlib.constants.Z_SYNC_FLUSH });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE') throw new Error('inflates to more than one cluster', { cause: err });
    throw new Error((err as Error).message, { cause: err });
  }
  if (out.byteLength !== clusterSize) throw new Error(`inflates to ${out.byteLength} bytes instead of ${clusterSize}`);
  return out;
}

/** Many compressed ranges of one buffer, inflated into one output of `count * clusterSize` bytes. */
export interface InflateBatch {
  readonly codec: Codec;
  readonly clusterSize: number;
  readonly input: Uint8Array;
  /** Start and length of each range inside `input`. */
  readonly starts: Float64Array;
  readonly lengths: Float64Array;
}

export type BatchResult =
  | { readonly ok: true; readonly output: Uint8Array }
  | { readonly ok: false; readonly index: number; readonly message: string };

export function inflateBatch(batch: InflateBatch): BatchResult {
  const n = batch.starts.length;
  const output = new Uint8Array(n * batch.clusterSize);
  for (let i = 0; i < n; i++) {
    const start = batch.starts[i]!;
    try {
      const cluster = inflateCluster(batch.codec, batch.input.subarray(start, start + batch.lengths[i]!), batch.clusterSize);
      output.set(cluster, i * batch.clusterSize);
    } catch (err) {
      return { ok: false, index: i, message: (err as Error).message };
    }
  }
  return { ok: true, output };
}
