/**
 * Finds the image inside an input and opens the reader for it. Seekable qcow2 and sparse vmdk
 * get a random-access reader; everything else (compressed, raw, ISO, images in a pipe) is read
 * as a stream through the source tap, the decompressors and the sniffer.
 */
import { CdiError } from '../api/errors.ts';
import type { ChecksumTee } from './checksum.ts';
import type { ImageReader, RandomAccessInput } from './contracts.ts';
import { peelLayers, type Peeled } from './decompress.ts';
import type { ProgressMeter } from './progress.ts';
import { rawStreamReader } from './raw.ts';
import { sniff, sniffLength, type Compression } from './sniff.ts';
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

const unsupported = new Set(['vhd', 'vhdx', 'vdi']);

/** The qcow2 readers load only when a qcow2 image shows up: raw and compressed-raw conversions start faster and smaller. */
const qcow2 = (): Promise<typeof import('./qcow2/index.ts')> => import('./qcow2/index.ts');
const vmdk = (): Promise<typeof import('./vmdk/index.ts')> => import('./vmdk/index.ts');
/** A sparse extent ("KDMV") is read at random; a text descriptor is read as a stream. */
const VMDK_SPARSE_MAGIC = 'KDMV';

type RandomOpener = (input: RandomAccessInput, signal: AbortSignal | undefined) => Promise<ImageReader>;

export async function openImage(input: StreamInput | RandomInput, context: OpenContext): Promise<OpenedImage> {
  if (input.kind === 'stream') return openStream(input.stream, input.size, context);
  const random = input.input;
  if (random.size === 0) throw new CdiError('CDI_ERR_EMPTY_INPUT');
  const head = await random.read(0, Math.min(random.size, sniffLength), context.signal);
  const format = sniff(head);
  if (format === 'qcow2') {
    return openRandom(random, head, context, async (counted, signal) => (await qcow2()).openQcow2Random(counted, { signal }));
  }
  if (format === 'vmdk' && Buffer.from(head.subarray(0, 4)).toString('latin1') === VMDK_SPARSE_MAGIC) {
    return openRandom(random, head, context, async (counted, signal) => (await vmdk()).openVmdkRandom(counted, { signal }));
  }
  return openStream(random.stream(0, context.signal), random.size, context);
}

async function openRandom(random: RandomAccessInput, head: Uint8Array, context: OpenContext, open: RandomOpener): Promise<OpenedImage> {
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
    const reader = await open(counted, context.signal);
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
  if (peeled.format === 'vmdk') {
    const { openVmdkStream } = await vmdk();
    return openVmdkStream(peeled.stream, { scratchDir: context.scratchDir, signal: context.signal });
  }
  if (unsupported.has(peeled.format)) throw new CdiError('CDI_ERR_UNSUPPORTED_FORMAT', [peeled.format]);
  // tar with contentType kubevirt is written as raw, as CDI does.
  const format = peeled.format === 'iso' ? 'iso' : 'raw';
  return rawStreamReader(peeled.stream, size === undefined ? { format } : { format, size });
}
