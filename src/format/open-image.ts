/**
 * Finds the image inside an input and opens the reader for it. Seekable qcow2, VHD and VHDX get
 * their random-access readers (a seekable input that looks raw but ends with a VHD footer is a
 * fixed VHD); everything else (compressed, raw, ISO, any of them in a pipe) is read as a stream
 * through the source tap, the decompressors and the sniffer.
 */
import { CdiError } from '../api/errors.ts';
import type { ChecksumTee } from './checksum.ts';
import type { ImageReader, RandomAccessInput } from './contracts.ts';
import { peelLayers, type Peeled } from './decompress.ts';
import type { ProgressMeter } from './progress.ts';
import { rawStreamReader } from './raw.ts';
import { sniff, sniffLength, type Compression, type Detected } from './sniff.ts';
import { SourceTap } from './source-tap.ts';

export interface OpenContext {
  readonly meter: ProgressMeter;
  readonly checksum: ChecksumTee | undefined;
  readonly scratchDir: string;
  readonly signal?: AbortSignal | undefined;
}

export interface OpenedImage {
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

const unsupported = new Set(['vmdk', 'vdi']);

/** The qcow2 readers load only when a qcow2 image shows up: raw and compressed-raw conversions start faster and smaller. */
const qcow2 = (): Promise<typeof import('./qcow2/index.ts')> => import('./qcow2/index.ts');
const vhd = (): Promise<typeof import('./vhd/index.ts')> => import('./vhd/index.ts');
const vhdx = (): Promise<typeof import('./vhdx/index.ts')> => import('./vhdx/index.ts');

type RandomOpener = (input: RandomAccessInput, signal: AbortSignal | undefined) => Promise<ImageReader>;

const randomOpeners: Partial<Record<Detected, RandomOpener>> = {
  qcow2: async (input, signal) => (await qcow2()).openQcow2Random(input, { signal }),
  vhd: async (input, signal) => (await vhd()).openVhdRandom(input, { signal }),
  vhdx: async (input, signal) => (await vhdx()).openVhdxRandom(input, { signal }),
};

export async function openImage(input: StreamInput | RandomInput, context: OpenContext): Promise<OpenedImage> {
  if (input.kind === 'stream') return openStream(input.stream, input.size, context);
  const random = input.input;
  if (random.size === 0) throw new CdiError('CDI_ERR_EMPTY_INPUT');
  const head = await random.read(0, Math.min(random.size, sniffLength), context.signal);
  let format = sniff(head);
  if ((format === 'raw' || format === 'iso') && (await (await vhd()).endsWithVhdFooter(random, context.signal))) format = 'vhd';
  const opener = randomOpeners[format];
  if (!opener) return openStream(random.stream(0, context.signal), random.size, context);
  return openRandom(random, head, context, opener);
}

async function openRandom(random: RandomAccessInput, head: Uint8Array, context: OpenContext, opener: RandomOpener): Promise<OpenedImage> {
  const { meter, checksum } = context;
  const stop = new AbortController();
  const signal = context.signal ? AbortSignal.any([context.signal, stop.signal]) : stop.signal;
  // A checksum covers every byte of the file, while the reader reads only allocated clusters:
  // hash the file with a sequential read beside the conversion.
  const hashing = checksum?.consume(random.stream(0, signal));
  hashing?.catch(() => {});
  const counted: RandomAccessInput = {
    size: random.size,
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
    const reader = await opener(counted, context.signal);
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
  try {
    peeled = await peelLayers(tap.stream, context.signal);
    if (peeled.head.byteLength === 0) throw new CdiError('CDI_ERR_EMPTY_INPUT');
    const reader = await readerFor(peeled, peeled.compressions.length === 0 ? size : undefined, context);
    return {
      reader,
      compressions: peeled.compressions,
      head: peeled.head,
      async finishSource() {
        await tap.drain();
        return context.checksum?.verify();
      },
      // a reader that was never iterated (refused before the first extent) leaves its layers open
      close: () => closeLayers(peeled, tap),
    };
  } catch (err) {
    await closeLayers(peeled, tap);
    throw err;
  }
}

async function closeLayers(peeled: Peeled | undefined, tap: SourceTap): Promise<void> {
  await peeled?.stream[Symbol.asyncIterator]().return?.();
  await tap.close();
}

async function readerFor(peeled: Peeled, size: number | undefined, context: OpenContext): Promise<ImageReader> {
  if (peeled.format === 'qcow2') {
    const { openQcow2Stream } = await qcow2();
    return openQcow2Stream(peeled.stream, { scratchDir: context.scratchDir, signal: context.signal });
  }
  if (peeled.format === 'vhd') return (await vhd()).openVhdStream(peeled.stream, { scratchDir: context.scratchDir, signal: context.signal });
  if (peeled.format === 'vhdx') return (await vhdx()).openVhdxStream(peeled.stream, { scratchDir: context.scratchDir, signal: context.signal });
  if (unsupported.has(peeled.format)) throw new CdiError('CDI_ERR_UNSUPPORTED_FORMAT', [peeled.format]);
  // tar with contentType kubevirt is written as raw, as CDI does.
  const format = peeled.format === 'iso' ? 'iso' : 'raw';
  return rawStreamReader(peeled.stream, size === undefined ? { format } : { format, size });
}
