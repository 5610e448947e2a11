/** VMDK readers: random access for seekable sparse extents, one pass for streams. Both share the codec in header.ts, descriptor.ts and tables.ts. */
export { openVmdkRandom } from './random.ts';
export { openVmdkStream, type VmdkStreamOptions } from './stream.ts';
