/**
 * Compressed cluster codec: inflates one qcow2 compressed range into exactly one cluster.
 * zlib clusters are raw deflate (qemu uses a 4 KiB window, no header, no adler32); zstd clusters
 * are one or more plain zstd frames. The range read from the image ends on a sector boundary, so
 * its tail may hold the start of the next compressed cluster: only the cluster's own stream is
 * decoded.
 *
 * A decoder keeps one zlib handle (zlib-handle.ts), reset between clusters, and writes each
 * cluster straight into the caller's output: `inflateRawSync` / `zstdDecompressSync` cost ~20%
 * more time on 64 KiB clusters and allocate every one.
 *
 * Everything here is self-contained (no module constants; `openZlibHandle` only as a default the
 * worker defines under the same name): the inflate pool sends the source text to its worker
 * thread, which runs it as plain JavaScript. Throws plain Errors; callers attach the guest
 * offset and the coded error.
 */
import { openZlibHandle } from '../zlib-handle.ts';

/** `zlib` is raw deflate (qcow2); `deflate` is zlib-wrapped deflate, RFC 1950 (VMDK grains). */
export type Codec = 'zlib' | 'deflate' | 'zstd';

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

export interface ClusterDecoder {
  /** Inflates `input` to exactly `clusterSize` bytes into `out` at `outAt`, or throws. */
  inflate(input: Uint8Array, clusterSize: number, out: Uint8Array, outAt: number): void;
  close(): void;
}

/** `openHandle` is passed in rather than imported so the worker can run this from source. */
export function openClusterDecoder(codec: Codec, frameEnd: typeof zstdFrameEnd = zstdFrameEnd, openHandle: typeof openZlibHandle = openZlibHandle): ClusterDecoder {
  const zlib = process.getBuiltinModule('node:zlib');
  const flush = codec === 'zstd' ? zlib.constants.ZSTD_e_end : zlib.constants.Z_SYNC_FLUSH;
  const handle = openHandle(codec === 'zstd' ? 'zstd' : codec === 'deflate' ? 'inflate' : 'inflateRaw');
  const probe = new Uint8Array(64);

  return {
    inflate(input, clusterSize, out, outAt) {
      handle.reset();
      let produced = 0;
      let consumed = 0;
      let end = input.byteLength;
      if (codec === 'zstd') {
        // Only whole frames: the bytes after them belong to the next cluster.
        let at = 0;
        while (produced < clusterSize) {
          const next = frameEnd(input, at);
          if (next < 0) throw new Error('zstd frame is incomplete or invalid');
          const [p, c] = handle.write(flush, input, at, next - at, out, outAt + produced, clusterSize - produced);
          produced += p;
          consumed = at + c;
          at = next;
          end = next;
          if (consumed < next) break;
        }
      } else {
        [produced, consumed] = handle.write(flush, input, 0, input.byteLength, out, outAt, clusterSize);
      }
      // A full cluster must be the end of the stream: anything more it would produce is too much.
      if (produced === clusterSize) {
        const [more] = handle.write(flush, input, consumed, end - consumed, probe, 0, probe.byteLength);
        if (more > 0) throw new Error('inflates to more than one cluster');
      }
      if (produced !== clusterSize) throw new Error(`inflates to ${produced} bytes instead of ${clusterSize}`);
    },
    close() {
      handle.close();
    },
  };
}
