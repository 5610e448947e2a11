/**
 * VHD readers. Random access: a dynamic disk opens with a footer copy, a fixed disk is raw data
 * with the footer only at the end of the file; once the table is read, the mapped file reader
 * takes the blocks (a dynamic disk's always in one sequential pass; mapped/file.ts says why).
 * One pass: dynamic disks (footer copy, header and table come first). A fixed disk in a pipe has
 * no magic until its last 512 bytes, so it arrives here only from files and HTTP sources that
 * honour Range; in a pipe it is read as raw, as CDI and qemu-img's format probe also do.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader, RandomAccessInput } from '../contracts.ts';
import type { BlockMap } from '../mapped/blocks.ts';
import { mappedFileReader } from '../mapped/file.ts';
import { mappedStreamReader, StreamCursor, type CursorOptions } from '../mapped/stream.ts';
import { abortError } from '../abort.ts';
import { decodeTable, HEADER_BYTES, invalid, parseDynamicHeader, reservedRanges } from './dynamic.ts';
import { DISK_FIXED, FOOTER_BYTES, hasCookie, parseFooter, type VhdFooter } from './footer.ts';

const fixedAtStart = (): CdiError => invalid('the footer copy at the start describes a fixed disk (a fixed disk has its footer only at the end)');

/** True when the last 512 bytes of `input` start with the VHD cookie: a fixed VHD, whose first bytes are guest data. */
export async function endsWithVhdFooter(input: RandomAccessInput, signal?: AbortSignal): Promise<boolean> {
  if (input.size < FOOTER_BYTES) return false;
  return hasCookie(await input.read(input.size - FOOTER_BYTES, 8, signal));
}

export async function openVhdRandom(input: RandomAccessInput, opts: { signal?: AbortSignal | undefined }): Promise<ImageReader> {
  const { signal } = opts;
  if (input.size < FOOTER_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`a VHD needs at least ${FOOTER_BYTES} bytes, the image has ${input.size}`]);
  const head = await input.read(0, FOOTER_BYTES, signal);
  if (hasCookie(head)) {
    const footer = parseFooter(head, 'footer copy at the start');
    if (footer.diskType === DISK_FIXED) throw fixedAtStart();
    const header = parseDynamicHeader(await input.read(footer.dataOffset, HEADER_BYTES, signal), footer);
    const table = await input.read(header.tableOffset, header.entries * 4, signal);
    const map = decodeTable(table, footer, header, input.size);
    return mappedFileReader('vhd', footer.virtualSize, input, map, invalid, signal);
  }
  const footer = parseFooter(await input.read(input.size - FOOTER_BYTES, FOOTER_BYTES, signal), 'footer');
  if (footer.diskType !== DISK_FIXED) throw invalid('a dynamic disk must start with a copy of its footer, this one does not');
  return mappedFileReader('vhd', footer.virtualSize, input, fixedMap(footer, input.size), invalid, signal);
}

function fixedMap(footer: VhdFooter, fileSize: number): BlockMap {
  const data = fileSize - FOOTER_BYTES;
  if (footer.virtualSize > data) throw new CdiError('CDI_ERR_TRUNCATED', [`the fixed VHD holds ${data} bytes of data, its footer declares ${footer.virtualSize}`]);
  const length = footer.virtualSize;
  return { blocks: length === 0 ? [] : [{ guest: 0, host: 0, prefix: 0, length, span: length }], zeros: [] };
}

export async function openVhdStream(stream: AsyncIterable<Uint8Array>, opts: CursorOptions): Promise<ImageReader> {
  const cursor = new StreamCursor(stream, opts, invalid);
  try {
    const footer = parseFooter(await cursor.range(0, FOOTER_BYTES, 'VHD footer copy'), 'footer copy at the start');
    if (footer.diskType === DISK_FIXED) throw fixedAtStart();
    cursor.reserve([
      { start: 0, end: FOOTER_BYTES, what: 'footer copy' },
      { start: footer.dataOffset, end: footer.dataOffset + HEADER_BYTES, what: 'dynamic disk header' },
    ]);
    const header = parseDynamicHeader(await cursor.range(footer.dataOffset, HEADER_BYTES, 'dynamic disk header'), footer);
    cursor.reserve(reservedRanges(footer, header));
    const table = await cursor.range(header.tableOffset, header.entries * 4, 'block allocation table');
    return mappedStreamReader('vhd', footer.virtualSize, cursor, decodeTable(table, footer, header, undefined), opts.signal);
  } catch (err) {
    await cursor.close();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}
