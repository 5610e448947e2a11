/**
 * The format engine's only public surface: the importer, the upload server and `cdi convert`
 * import from here and nowhere else in src/format.
 */
export type { Extent } from './extent.ts';
export { extentEnd } from './extent.ts';
export type { ExtentSink, ImageReader, ProgressEvent, RandomAccessInput } from './contracts.ts';
export type { ConvertInput, ConvertOptions, ConvertResult, ConvertTarget } from './pipeline.ts';
export { convert } from './pipeline.ts';
export { openFileInput, readDescriptor } from './file-input.ts';
export { parseChecksum } from './checksum.ts';
