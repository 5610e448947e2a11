/**
 * Finds the image inside an input and opens the reader for it. Seekable qcow2, VDI, sparse VMDK,
 * VHD and VHDX get their random-access readers (a seekable input that looks raw but ends with a
 * VHD footer is a fixed VHD); everything else (compressed, raw, ISO, any of them in a pipe) is
 * read as a stream through the source tap, the decompressors and the sniffer.
 */
import { CdiError } from '../api/errors.ts';
import type { ChecksumTee } from './checksum.ts';
import type { ImageReader, RandomAccessInput } from './contracts.ts';
import { peelLayers, type Peeled } from './decompress.ts';
import { isOva } from './ova-detect.ts';
import type { OvaDisk } from './ova.ts';
import type { ProgressMeter } from './progress.ts';
import { rawStreamReader } from './raw.ts';
import { refusedFormat, sniff, sniffLength, type Compression, type Detected } from './sniff.ts';
import { SourceTap } from './source-tap.ts';

interface OpenContext {
  readonly meter: ProgressMeter;
  readonly checksum: ChecksumTee | undefined;
  readonly scratchDir: string;
  /** Most bytes a stream reader may keep in the scratch directory. */
  readonly spillLimit: number;
  readonly signal?: AbortSignal | undefined;
}

interface OpenedImage {
  readonly reader: ImageReader;
  readonly compressions: Compression[];
  /** The first bytes of the (decompressed) image. */
  readonly head: Uint8Array;
  /** Consumes what the reader left of the source and verifies the checksum; returns `algo:hex` when one was asked for. */
  finishSource(): Promise<string | undefined>;
  /** Releases the source (kills decompressor processes, stops reads). */
  close(): Promise<void>;
}

type StreamInput = { kind: 'stream'; stream: AsyncIterable<Uint8Array>; size?: number };
type RandomInput = { kind: 'random'; input: RandomAccessInput };

type OpenRandom = (input: RandomAccessInput, opts: { signal?: AbortSignal }) => Promise<ImageReader>;
type OpenStream = (stream: AsyncIterable<Uint8Array>, opts: { scratchDir: string; spillLimit: number; signal?: AbortSignal }) => Promise<ImageReader>;

const vhd = (): Promise<typeof import('./vhd/index.ts')> => import('./vhd/index.ts');

// Format readers load only when their format shows up: raw and compressed-raw conversions start faster and smaller.
const randomReaders: Partial<Record<Detected, OpenRandom>> = {
  qcow2: async (input, opts) => (await import('./qcow2/index.ts')).openQcow2Random(input, opts),
  vdi: async (input, opts) => (await import('./vdi/index.ts')).openVdiRandom(input, opts),
  vmdk: async (input, opts) => (await import('./vmdk/index.ts')).openVmdkRandom(input, opts),
  vhd: async (input, opts) => (await vhd()).openVhdRandom(input, opts),
  vhdx: async (input, opts) => (await import('./vhdx/index.ts')).openVhdxRandom(input, opts),
};
const streamReaders: Partial<Record<Detected, OpenStream>> = {
  qcow2: async (stream, opts) => (await import('./qcow2/index.ts')).openQcow2Stream(stream, opts),
  vdi: async (stream, opts) => (await import('./vdi/index.ts')).openVdiStream(stream, opts),
  vmdk: async (stream, opts) => (await import('./vmdk/index.ts')).openVmdkStream(stream, opts),
  vhd: async (stream, opts) => (await vhd()).openVhdStream(stream, opts),
  vhdx: async (stream, opts) => (await import('./vhdx/index.ts')).openVhdxStream(stream, opts),
};

/** A sparse VMDK extent ("KDMV") is read at random; a text descriptor is read as a stream. */
const isTextVmdk = (format: Detected, head: Uint8Array): boolean =>
  format === 'vmdk' && Buffer.from(head.subarray(0, 4)).toString('latin1') !== 'KDMV';

export async function openImage(input: StreamInput | RandomInput, context: OpenContext): Promise<OpenedImage> {
  if (input.kind === 'stream') return openStream(input.stream, input.size, context);
  const random = input.input;
  if (random.size === 0) throw new CdiError('CDI_ERR_EMPTY_INPUT');
  const head = await random.read(0, Math.min(random.size, sniffLength), context.signal);
  let format = sniff(head);
  if ((format === 'raw' || format === 'iso') && (await (await vhd()).endsWithVhdFooter(random, context.signal))) format = 'vhd';
  if (format === 'raw') refuseOtherFormats(head);
  const open = isTextVmdk(format, head) ? undefined : randomReaders[format];
  if (!open) return openStream(random.stream(0, context.signal), random.size, context);
  return openRandom(random, head, open, context);
}

async function openRandom(random: RandomAccessInput, head: Uint8Array, open: OpenRandom, context: OpenContext): Promise<OpenedImage> {
  const { meter, checksum } = context;
  const stop = new AbortController();
  const signal = context.signal ? AbortSignal.any([context.signal, stop.signal]) : stop.signal;
  // A checksum covers every byte of the file, while the reader reads only allocated clusters:
  // hash the file with a sequential read beside the conversion.
  const hashing = checksum?.consume(random.stream(0, signal));
  hashing?.catch(() => {});
  const counted: RandomAccessInput = {
    size: random.size,
    ...(random.readSize === undefined ? {} : { readSize: random.readSize }),
    async read(offset, length, readSignal) {
      const data = await random.read(offset, length, readSignal);
      meter.sourceBytes += data.byteLength;
      return data;
    },
    ...(random.readLeased ? {
      async readLeased(offset: number, length: number, readSignal?: AbortSignal) {
        const leased = await random.readLeased!(offset, length, readSignal);
        meter.sourceBytes += leased.bytes.byteLength;
        return leased;
      },
    } : {}),
    async *stream(offset, streamSignal) {
      for await (const chunk of random.stream(offset, streamSignal)) {
        meter.sourceBytes += chunk.byteLength;
        yield chunk;
      }
    },
  };
  try {
    const reader = await open(counted, { signal: context.signal });
    return {
      reader,
      compressions: [],
      head,
      async finishSource() {
        await hashing;
        return checksum?.verify();
      },
      async close() {
        stop.abort();
      },
    };
  } catch (err) {
    stop.abort();
    throw err;
  }
}

async function openStream(source: AsyncIterable<Uint8Array>, size: number | undefined, context: OpenContext): Promise<OpenedImage> {
  const tap = new SourceTap(source, context.meter, context.checksum);
  let peeled: Peeled | undefined;
  let ova: OvaDisk | undefined;
  let disk: Peeled | undefined;
  try {
    peeled = await peelLayers(tap.stream, context.signal);
    if (peeled.head.byteLength === 0) throw new CdiError('CDI_ERR_EMPTY_INPUT');
    let image = peeled;
    let imageSize = peeled.compressions.length === 0 ? size : undefined;
    if (peeled.format === 'tar' && isOva(peeled.head)) {
      // an OVA: the image is its first disk's entry, sniffed and unwrapped in turn
      ova = await (await import('./ova.ts')).openOvaDisk(peeled.stream);
      image = disk = await peelLayers(ova.body, context.signal);
      if (image.head.byteLength === 0) throw new CdiError('CDI_ERR_EMPTY_INPUT');
      imageSize = image.compressions.length === 0 ? ova.size : undefined;
    }
    const reader = await readerFor(image, imageSize, context);
    const layers = peeled;
    const archive = ova;
    const diskLayers = disk;
    return {
      reader,
      compressions: image === peeled ? peeled.compressions : [...peeled.compressions, ...image.compressions],
      head: image.head,
      async finishSource() {
        await archive?.finish();
        await tap.drain();
        return context.checksum?.verify();
      },
      // a reader that was never iterated (refused before the first extent) leaves its layers open
      close: async () => {
        await closeOva(diskLayers, archive);
        await closeLayers(layers, tap);
      },
    };
  } catch (err) {
    await closeOva(disk, ova);
    await closeLayers(peeled, tap);
    throw err;
  }
}

async function closeLayers(peeled: Peeled | undefined, tap: SourceTap): Promise<void> {
  await peeled?.stream[Symbol.asyncIterator]().return?.();
  await tap.close();
}

/** The disk's own layers (a decompressor of the entry), then the archive. */
async function closeOva(disk: Peeled | undefined, ova: OvaDisk | undefined): Promise<void> {
  await disk?.stream[Symbol.asyncIterator]().return?.();
  await ova?.close();
}

/** What qemu-img would call another format is refused, as CDI's validation does, not written out as raw. */
function refuseOtherFormats(head: Uint8Array): void {
  const refused = refusedFormat(head);
  if (refused) throw new CdiError('CDI_ERR_INVALID_FORMAT', [refused, 'source']);
}

async function readerFor(peeled: Peeled, size: number | undefined, context: OpenContext): Promise<ImageReader> {
  const open = streamReaders[peeled.format];
  if (open) return open(peeled.stream, { scratchDir: context.scratchDir, spillLimit: context.spillLimit, signal: context.signal });
  // tar with contentType kubevirt is written as raw, as CDI does.
  const format = peeled.format === 'iso' ? 'iso' : 'raw';
  if (peeled.format === 'raw') refuseOtherFormats(peeled.head);
  return rawStreamReader(peeled.stream, size === undefined ? { format } : { format, size });
}
