/** qcow2 readers: random access for seekable inputs, one pass for streams. Both share the codec in header.ts and tables.ts. */
export { openQcow2Random } from './random.ts';
export { openQcow2Stream, type StreamOptions } from './stream.ts';
export { parseHeader, peekClusterSize, type Qcow2Header } from './header.ts';
