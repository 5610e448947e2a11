/** VHDX readers: random access for seekable inputs, one pass for streams. */
export { openVhdxRandom, openVhdxStream } from './reader.ts';
