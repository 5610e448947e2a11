/**
 * VHDX readers: the header section, the metadata items and the BAT, then the payload blocks.
 * One pass reads the BAT and metadata regions in file order (qemu-img puts the BAT first, and
 * its size is known only from the metadata, so a BAT that comes first is read whole, up to the
 * table-size limit); payload blocks placed before them are kept in the scratch store.
 */
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import { CdiError } from '../../api/errors.ts';
import { MAX_TABLE_ENTRIES } from '../mapped/blocks.ts';
import { mappedFileReader } from '../mapped/file.ts';
import { mappedStreamReader, StreamCursor, type CursorOptions } from '../mapped/stream.ts';
import { abortError } from '../abort.ts';
import { batShape, decodeBat, reservedRanges } from './bat.ts';
import { invalid, LAYOUT_BYTES, parseLayout } from './layout.ts';
import { diskParameters, parseMetadataTable, TABLE_BYTES } from './metadata.ts';

export async function openVhdxRandom(input: RandomAccessInput, opts: { signal?: AbortSignal | undefined }): Promise<ImageReader> {
  const { signal } = opts;
  if (input.size < LAYOUT_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`a VHDX needs at least ${LAYOUT_BYTES} bytes, the image has ${input.size}`]);
  const layout = parseLayout(await input.read(0, LAYOUT_BYTES, signal));
  const meta = layout.metadata;
  const refs = parseMetadataTable(await input.read(meta.offset, TABLE_BYTES, signal), meta);
  const items = new Map<string, Uint8Array>();
  for (const ref of refs) items.set(ref.guid, await input.read(meta.offset + ref.offset, ref.length, signal));
  const disk = diskParameters(items);
  const bat = await input.read(layout.bat.offset, batShape(disk, layout).bytes, signal);
  return mappedFileReader('vhdx', disk.virtualSize, input, decodeBat(bat, disk, layout, input.size), invalid, signal);
}

export async function openVhdxStream(stream: AsyncIterable<Uint8Array>, opts: CursorOptions): Promise<ImageReader> {
  const cursor = new StreamCursor(stream, opts, invalid);
  try {
    const layout = parseLayout(await cursor.range(0, LAYOUT_BYTES, 'VHDX header section'));
    cursor.reserve(reservedRanges(layout));
    const batFirst = layout.bat.offset < layout.metadata.offset;
    let bat = batFirst ? await cursor.range(layout.bat.offset, Math.min(layout.bat.length, MAX_TABLE_ENTRIES * 8), 'BAT') : undefined;
    const meta = layout.metadata;
    const refs = parseMetadataTable(await cursor.range(meta.offset, TABLE_BYTES, 'metadata table'), meta);
    const items = new Map<string, Uint8Array>();
    for (const ref of refs) items.set(ref.guid, await cursor.range(meta.offset + ref.offset, ref.length, 'metadata item'));
    const disk = diskParameters(items);
    bat ??= await cursor.range(layout.bat.offset, batShape(disk, layout).bytes, 'BAT');
    return mappedStreamReader('vhdx', disk.virtualSize, cursor, decodeBat(bat, disk, layout, undefined), opts.signal);
  } catch (err) {
    await cursor.close();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}
