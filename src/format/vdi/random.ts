/**
 * Random-access VDI reader (files, HTTP Range): header and block map, decoded into the mapped
 * readers' block map; the mapped random reader reads the allocated blocks in guest order.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import { addZeroRun, type BlockMap, type MappedBlock, type ZeroRun } from '../mapped/blocks.ts';
import { mappedRandomReader } from '../mapped/random.ts';
import { decodeVdiMap, ENTRY_DISCARDED, ENTRY_UNALLOCATED, parseVdiHeader, VDI_HEADER_BYTES, type VdiHeader } from './header.ts';

/** The block map as mapped blocks (stored data) and zero runs (discarded blocks); unallocated blocks are neither. */
function blockMap(map: ArrayLike<number>, h: VdiHeader): BlockMap {
  const blocks: MappedBlock[] = [];
  const zeros: ZeroRun[] = [];
  for (let i = 0; i < h.blocks; i++) {
    const entry = map[i]!;
    if (entry === ENTRY_UNALLOCATED) continue;
    const guest = i * h.blockSize;
    const length = Math.min(h.blockSize, h.virtualSize - guest);
    if (entry === ENTRY_DISCARDED) addZeroRun(zeros, guest, length);
    else blocks.push({ guest, host: h.dataOffset + entry * h.blockSize, prefix: 0, length, span: h.blockSize });
  }
  return { blocks, zeros };
}

export async function openVdiRandom(input: RandomAccessInput, opts: { signal?: AbortSignal }): Promise<ImageReader> {
  if (input.size < VDI_HEADER_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`the VDI header needs ${VDI_HEADER_BYTES} bytes, the image has ${input.size}`]);
  const h = parseVdiHeader(await input.read(0, VDI_HEADER_BYTES, opts.signal), input.size);
  const map = h.blocks === 0 ? { blocks: [], zeros: [] } : blockMap(decodeVdiMap(await input.read(h.mapOffset, h.mapBytes, opts.signal), h, input.size), h);
  return mappedRandomReader('vdi', h.virtualSize, input, map, opts.signal);
}
