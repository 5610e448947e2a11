/** VHD (qemu's `vpc`) readers: random access for seekable inputs, one pass for streams. */
export { endsWithVhdFooter, openVhdRandom, openVhdStream } from './reader.ts';
