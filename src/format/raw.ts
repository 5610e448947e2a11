/**
 * Raw and ISO images read sequentially: the bytes are the guest disk. All-zero stretches are
 * reported as zero extents so a file target stays sparse.
 */
import { CdiError } from '../api/errors.ts';
import type { ImageReader } from './contracts.ts';
import type { Extent } from './extent.ts';
import { alignedBlocks } from './blocks.ts';
import { claimChunk } from './buffer-pool.ts';
import { zeroRuns } from './zero.ts';

const blockSize = 1 << 20;
const zeroGranule = 64 << 10;

interface RawReaderOptions {
  readonly format: 'raw' | 'iso';
  /** The image size when known in advance (a local file, an uncompressed stream of known length). */
  readonly size?: number;
}

export function rawStreamReader(stream: AsyncIterable<Uint8Array>, options: RawReaderOptions): ImageReader {
  let total = 0;
  let ended = false;
  const known = options.size;
  async function* extents(): AsyncGenerator<Extent> {
    for await (const block of alignedBlocks(stream, blockSize)) {
      if (known !== undefined && total + block.byteLength > known) {
        throw new CdiError('CDI_ERR_INTERNAL', [`raw input grew past its announced size ${known}`]);
      }
      const lease = claimChunk(block);
      try {
        for (const run of zeroRuns(block, zeroGranule)) {
          if (run.zero) {
            yield { kind: 'zero', offset: total + run.start, length: run.end - run.start };
            continue;
          }
          // each data extent holds the block for whoever writes it
          lease?.retain();
          yield { kind: 'data', offset: total + run.start, data: block.subarray(run.start, run.end), ...(lease ? { lease } : {}) };
        }
      } finally {
        lease?.release();
      }
      total += block.byteLength;
    }
    if (known !== undefined && total < known) {
      throw new CdiError('CDI_ERR_TRUNCATED', [`expected ${known} bytes, got ${total}`]);
    }
    ended = true;
  }
  return {
    format: options.format,
    get virtualSize() {
      return known ?? (ended ? total : undefined);
    },
    extents,
    spillBytes: () => 0,
  };
}

/** The size an ISO 9660 primary volume descriptor declares (volume space size × logical block size). */
export function isoDeclaredSize(head: Uint8Array): number | undefined {
  if (head.byteLength < 0x8082) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  const blocks = view.getUint32(0x8050, true);
  const logicalBlock = view.getUint16(0x8080, true);
  return blocks > 0 && logicalBlock > 0 ? blocks * logicalBlock : undefined;
}
