/**
 * convert(): source bytes → checksum tee → decompress* → sniff → format reader → extents → sink,
 * or, for archive content, → tar extraction into a directory. The target never looks complete
 * unless every step succeeded: on any failure the sink is aborted.
 */
import os from 'node:os';
import { CdiError, asCdiError } from '../api/errors.ts';
import { silentLogger, type Logger } from '../api/logger.ts';
import type { Lease } from './buffer-pool.ts';
import { ChecksumTee, parseChecksum } from './checksum.ts';
import type { ExtentSink, ProgressEvent, RandomAccessInput } from './contracts.ts';
import { peelLayers } from './decompress.ts';
import { extentEnd } from './extent.ts';
import { ProgressMeter } from './progress.ts';
import { openImage } from './open-image.ts';
import { isoDeclaredSize } from './raw.ts';
import { deviceSize } from './device-size.ts';
import { openBlockSink } from './sink-block.ts';
import { openFileSink } from './sink-file.ts';
import { SourceTap } from './source-tap.ts';
import { zeroRuns } from './zero.ts';

export type ConvertInput =
  | { kind: 'stream'; stream: AsyncIterable<Uint8Array>; size?: number }
  | { kind: 'random'; input: RandomAccessInput };

export type ConvertTarget =
  | { kind: 'file'; path: string }
  | { kind: 'block'; path: string; zeroed?: boolean }
  | { kind: 'directory'; path: string }
  | { kind: 'sink'; sink: ExtentSink };

export interface ConvertOptions {
  contentType: 'kubevirt' | 'archive';
  /** Usable bytes of the target (CDI's filesystem-overhead rule is applied by callers). */
  capacity?: number;
  /** Grow a file target to this size (grow only, 1 MiB aligned). */
  size?: number;
  /** CDI's `algo:hex` of the source bytes. */
  checksum?: string;
  preallocation?: boolean;
  /** Where one-pass qcow2 spills clusters whose L2 table is still ahead (default os.tmpdir()). */
  scratchDir?: string;
  /**
   * Most bytes a streamed image may keep in the scratch directory (CDI_ERR_SCRATCH_LIMIT past it).
   * The target's capacity bounds it in any case: upstream stages such an image on a scratch
   * volume the size of the target, so no image it can import needs more.
   */
  spillLimit?: number;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
  logger?: Logger;
}

export interface ConvertResult {
  format: string;
  compressions: string[];
  virtualSize: number;
  sourceBytes: number;
  writtenBytes: number;
  spillBytes: number;
  preallocationApplied: boolean;
  checksum?: string;
}

const MiB = 1 << 20;
const zeroGranule = 64 << 10;

export async function convert(input: ConvertInput, target: ConvertTarget, options: ConvertOptions): Promise<ConvertResult> {
  const checksum = options.checksum === undefined ? undefined : new ChecksumTee(parseChecksum(options.checksum));
  const total = input.kind === 'random' ? input.input.size : input.size;
  const meter = new ProgressMeter(total, options.onProgress);
  const logger = options.logger ?? silentLogger;
  try {
    options.signal?.throwIfAborted();
    const result = options.contentType === 'archive'
      ? await convertArchive(input, target, options, checksum, meter, logger)
      : await convertImage(input, target, options, checksum, meter, logger);
    logger.info({ ...result }, 'conversion complete');
    meter.stop('done');
    return result;
  } catch (err) {
    meter.stop('failed');
    // Once aborted, whatever broke (a killed decompressor, a closed stream) broke because of it.
    if (options.signal?.aborted && !(err instanceof CdiError && err.code === 'CDI_ERR_ABORTED')) {
      throw new CdiError('CDI_ERR_ABORTED', [String(options.signal.reason ?? 'signal')], { cause: err });
    }
    throw asCdiError(err);
  }
}

async function convertImage(
  input: ConvertInput,
  target: ConvertTarget,
  options: ConvertOptions,
  checksum: ChecksumTee | undefined,
  meter: ProgressMeter,
  logger: Logger,
): Promise<ConvertResult> {
  if (target.kind === 'directory') throw new CdiError('CDI_ERR_TARGET_KIND', ['kubevirt', 'file or block']);
  const capacity = Math.min(options.capacity ?? Infinity, await targetCapacity(target));
  const opened = await openImage(input, {
    meter,
    checksum,
    signal: options.signal,
    scratchDir: options.scratchDir ?? os.tmpdir(),
    spillLimit: Math.min(options.spillLimit ?? Infinity, capacity),
  });
  try {
    const { reader } = opened;
    logger.info({ format: reader.format, compressions: opened.compressions, virtualSize: reader.virtualSize }, 'image detected');
    const declared = reader.virtualSize ?? (reader.format === 'iso' ? isoDeclaredSize(opened.head) : undefined);
    if (declared !== undefined && declared > capacity) throw new CdiError('CDI_ERR_TOO_LARGE', [declared, capacity]);
    const sink = await openSink(target, capacity, options);
    meter.stage('convert');
    try {
      let end = 0;
      for await (const extent of reader.extents()) {
        options.signal?.throwIfAborted();
        const extentLast = extentEnd(extent);
        if (extentLast > capacity) throw new CdiError('CDI_ERR_TOO_LARGE', [extentLast, capacity]);
        if (extent.kind === 'zero') await sink.writeZeros(extent.offset, extent.length);
        else {
          // a sink that does not release leases may still hold the bytes: then the buffer is never reused
          const lease = sink.releasesLeases ? extent.lease : undefined;
          if (reader.format === 'raw' || reader.format === 'iso') await writeData(sink, meter, extent.offset, extent.data, lease);
          else {
            // Allocated clusters and blocks may hold zeros; like qemu-img, keep those as holes.
            for (const run of zeroRuns(extent.data, zeroGranule)) {
              if (run.zero) await sink.writeZeros(extent.offset + run.start, run.end - run.start);
              else await writeData(sink, meter, extent.offset + run.start, extent.data.subarray(run.start, run.end), lease);
            }
          }
          lease?.release();
        }
        if (extentLast > end) end = extentLast;
      }
      const virtualSize = reader.virtualSize ?? end;
      if (virtualSize > capacity) throw new CdiError('CDI_ERR_TOO_LARGE', [virtualSize, capacity]);
      meter.stage('verify');
      const verified = await opened.finishSource();
      meter.stage('finish');
      const size = finalSize(virtualSize, options.size, capacity, target, logger);
      await sink.finish(size);
      return {
        format: reader.format,
        compressions: opened.compressions,
        virtualSize,
        sourceBytes: meter.sourceBytes,
        writtenBytes: meter.writtenBytes,
        spillBytes: reader.spillBytes(),
        preallocationApplied: options.preallocation === true,
        ...(verified === undefined ? {} : { checksum: verified }),
      };
    } catch (err) {
      await sink.abort().catch((abortErr: unknown) => logger.warn({ err: abortErr }, 'could not invalidate the target'));
      throw err;
    }
  } finally {
    await opened.close();
  }
}

async function writeData(sink: ExtentSink, meter: ProgressMeter, offset: number, data: Uint8Array, lease: Lease | undefined): Promise<void> {
  await sink.write(offset, data, lease);
  meter.writtenBytes += data.byteLength;
}

async function convertArchive(
  input: ConvertInput,
  target: ConvertTarget,
  options: ConvertOptions,
  checksum: ChecksumTee | undefined,
  meter: ProgressMeter,
  logger: Logger,
): Promise<ConvertResult> {
  if (target.kind !== 'directory') throw new CdiError('CDI_ERR_TARGET_KIND', ['archive', 'directory']);
  const source = input.kind === 'random' ? input.input.stream(0, options.signal) : input.stream;
  const tap = new SourceTap(source, meter, checksum);
  // tar-stream and its stream stack load only when an archive is asked for (startup time of `cdi convert`).
  const { TarExtractor } = await import('./archive.ts');
  const extractor = new TarExtractor(target.path);
  try {
    const peeled = await peelLayers(tap.stream, options.signal);
    if (peeled.head.byteLength === 0) throw new CdiError('CDI_ERR_EMPTY_INPUT');
    if (peeled.format !== 'tar' && peeled.format !== 'raw') {
      throw new CdiError('CDI_ERR_ARCHIVE_INVALID', [`found ${peeled.format} data, not a tar archive`]);
    }
    meter.stage('convert');
    await extractor.extract(peeled.stream, { capacity: options.capacity ?? Infinity, meter, logger, signal: options.signal });
    meter.stage('verify');
    await tap.drain();
    const verified = checksum?.verify();
    return {
      format: 'tar',
      compressions: peeled.compressions,
      virtualSize: extractor.bytes,
      sourceBytes: meter.sourceBytes,
      writtenBytes: meter.writtenBytes,
      spillBytes: 0,
      preallocationApplied: false,
      ...(verified === undefined ? {} : { checksum: verified }),
    };
  } catch (err) {
    await extractor.abort().catch((abortErr: unknown) => logger.warn({ err: abortErr }, 'could not remove extracted files'));
    throw err;
  } finally {
    await tap.close();
  }
}

async function targetCapacity(target: ConvertTarget): Promise<number> {
  switch (target.kind) {
    case 'block':
      return deviceSize(target.path);
    case 'sink':
      return target.sink.capacity;
    default:
      return Infinity;
  }
}

function openSink(target: ConvertTarget, capacity: number, options: ConvertOptions): Promise<ExtentSink> {
  switch (target.kind) {
    case 'file':
      return openFileSink(target.path, { capacity, preallocate: options.preallocation === true });
    case 'block':
      return openBlockSink(target.path, { capacity, zeroed: target.zeroed === true && options.preallocation !== true });
    case 'sink':
      return Promise.resolve(target.sink);
    case 'directory':
      throw new CdiError('CDI_ERR_TARGET_KIND', ['kubevirt', 'file or block']);
  }
}

/** CDI only grows images: the requested size applies when it is larger, rounded down to 1 MiB and capped at the capacity. */
function finalSize(virtualSize: number, requested: number | undefined, capacity: number, target: ConvertTarget, logger: Logger): number {
  if (requested === undefined || target.kind === 'block') return virtualSize;
  const grown = Math.floor(Math.min(requested, capacity) / MiB) * MiB;
  if (grown <= virtualSize) {
    if (requested < virtualSize) logger.warn({ requested, virtualSize }, 'requested size is smaller than the image; images are only grown');
    return virtualSize;
  }
  return grown;
}

