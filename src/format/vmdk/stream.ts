/**
 * One-pass VMDK readers for pipes and uploads: reads the header and the embedded descriptor and
 * hands the rest of the stream to the streamOptimized reader (marker-stream.ts) or the
 * monolithicSparse reader (sparse-stream.ts). A text descriptor is usable only when its flat
 * extent follows it in the same stream; its bytes are then read as raw.
 */
import { CdiError } from '../../api/errors.ts';
import type { ImageReader } from '../contracts.ts';
import { lendChunk } from '../buffer-pool.ts';
import { rawStreamReader } from '../raw.ts';
import { abortError } from '../abort.ts';
import { ByteSource } from '../byte-source.ts';
import { checkDescriptor, DESCRIPTOR_MAGIC, descriptorText, flatLayout, MAX_DESCRIPTOR_BYTES, parseDescriptor } from './descriptor.ts';
import { invalid, parseSparseHeader, SECTOR, sectorsOf } from './header.ts';
import { MarkerReader } from './marker-stream.ts';
import { SparseReader, type SparseStreamOptions } from './sparse-stream.ts';
import { exactly, skipTo } from './stream-io.ts';
import { UnitSet } from './unit-set.ts';

export type VmdkStreamOptions = SparseStreamOptions;

/** A text descriptor whose flat extent follows it in the stream: the extent's bytes are the disk. */
async function openFlat(src: ByteSource, first: Uint8Array): Promise<ImageReader> {
  // a copy: `first` may be a view of a pooled chunk that is reused once the source moves past it
  let head = new Uint8Array(first);
  while (head.indexOf(0) === -1 && head.byteLength < MAX_DESCRIPTOR_BYTES) {
    const more = await src.read(SECTOR);
    if (more.byteLength === 0) break;
    const joined = new Uint8Array(head.byteLength + more.byteLength);
    joined.set(head);
    joined.set(more, head.byteLength);
    head = joined;
  }
  const text = descriptorText(head);
  const layout = flatLayout(parseDescriptor(text), sectorsOf(text.length) * SECTOR);
  if (layout.offset < src.pos) throw invalid('the flat extent starts inside the descriptor');
  if (!(await skipTo(src, layout.offset))) throw new CdiError('CDI_ERR_TRUNCATED', ['the stream ended before the flat extent']);
  const end = layout.offset + layout.virtualSize;
  async function* extentBytes(): AsyncGenerator<Uint8Array> {
    try {
      while (src.pos < end) {
        const piece = await src.takeLeased(end - src.pos);
        if (!piece) return;
        // lent with a hold on its chunk, so the raw reader keeps the bytes alive until they are written
        yield lendChunk(piece.bytes, piece.lease);
      }
      await src.drain();
    } finally {
      await src.close();
    }
  }
  const raw = rawStreamReader(extentBytes(), { format: 'raw', size: layout.virtualSize });
  return { format: 'vmdk', virtualSize: layout.virtualSize, extents: () => raw.extents(), spillBytes: () => 0 };
}

/** Reads the header and descriptor; the returned reader continues from there. */
export async function openVmdkStream(stream: AsyncIterable<Uint8Array>, opts: VmdkStreamOptions): Promise<ImageReader> {
  const src = new ByteSource(stream, opts.signal);
  try {
    const first = await src.read(SECTOR);
    if (Buffer.from(first.subarray(0, DESCRIPTOR_MAGIC.length)).toString('latin1') === DESCRIPTOR_MAGIC) return await openFlat(src, first);
    if (first.byteLength < SECTOR) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk header after ${first.byteLength} bytes`]);
    const h = parseSparseHeader(first);
    const used = new UnitSet();
    used.claim(0, 1);
    if (h.descriptorSize > 0) {
      if (!(await skipTo(src, h.descriptorOffset))) throw new CdiError('CDI_ERR_TRUNCATED', ['the stream ended before the vmdk descriptor']);
      const bytes = await exactly(src, Math.min(h.descriptorSize, MAX_DESCRIPTOR_BYTES), 'descriptor');
      checkDescriptor(bytes, h);
      used.claim(h.descriptorOffset / SECTOR, sectorsOf(h.descriptorSize));
    }
    return h.compressed ? new MarkerReader(h, src, opts.signal) : new SparseReader(h, src, used, opts);
  } catch (err) {
    await src.close();
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}
