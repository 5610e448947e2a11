/** VDI readers: random access for seekable inputs, one pass for streams. Both share the codec in header.ts. */
export { openVdiRandom } from './random.ts';
export { openVdiStream } from './stream.ts';
export { parseVdiHeader, type VdiHeader } from './header.ts';
