/**
 * Compressed cluster codec: inflates one qcow2 compressed range into exactly one cluster.
 * zlib clusters are raw deflate (qemu uses a 4 KiB window, no header, no adler32); zstd clusters
 * are one or more plain zstd frames. The range read from the image ends on a sector boundary, so
 * its tail may hold the start of the next compressed cluster: only the cluster's own stream is
 * decoded. Throws plain Errors; callers attach the guest offset and the coded error.
 *
 * Both functions are self-contained (no imports, no module constants): the inflate pool sends
 * their source text to worker threads, which run it as plain JavaScript.
 */

export type Codec = 'zlib' | 'zstd';

/** End of the zstd frame starting at `at`, or -1 when the bytes do not hold a whole frame. */
export function zstdFrameEnd(b: Uint8Array, at: number): number {
  if (at + 6 > b.byteLength) return -1;
  const magic = (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  if (magic !== 0xfd2fb528) return -1;
  const fhd = b[at + 4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const fcsBytes = fcsFlag === 0 ? single : 2 ** fcsFlag;
  const dictBytes = [0, 1, 2, 4][fhd & 3]!;
  let p = at + 5 + (single ? 0 : 1) + dictBytes + fcsBytes;
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

/** Inflates `input` to exactly `clusterSize` bytes into `out` at `outAt`, or throws. */
export function inflateCluster(codec: Codec, input: Uint8Array, clusterSize: number, out: Uint8Array, outAt: number, frameEnd = zstdFrameEnd): void {
  const zlib = process.getBuiltinModule('node:zlib');
  let produced = 0;
  try {
    if (codec === 'zstd') {
      let at = 0;
      while (produced < clusterSize) {
        const end = frameEnd(input, at);
        if (end < 0) throw new Error('zstd frame is incomplete or invalid');
        const part = zlib.zstdDecompressSync(input.subarray(at, end), { maxOutputLength: clusterSize - produced, chunkSize: Math.max(64, clusterSize - produced) });
        out.set(part, outAt + produced);
        produced += part.byteLength;
        at = end;
      }
    } else {
      // one output chunk of a whole cluster: no 16 KiB pieces to join
      const part = zlib.inflateRawSync(input, { maxOutputLength: clusterSize, chunkSize: clusterSize, finishFlush: zlib.constants.Z_SYNC_FLUSH });
      out.set(part, outAt);
      produced = part.byteLength;
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new Error('inflates to more than one cluster', { cause: err });
    throw err;
  }
  if (produced !== clusterSize) throw new Error(`inflates to ${produced} bytes instead of ${clusterSize}`);
}
