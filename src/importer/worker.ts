import { chmod, open, rm } from 'node:fs/promises';
import os from 'node:os';
import { CdiError, asCdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import type { ConvertResult, ConvertTarget } from '../format/index.ts';
import { createBlank } from '../sources/blank.ts';
import type { HttpOptions, ImportSource } from '../sources/index.ts';
import { scratchSpillLimit } from '../worker/scratch-space.ts';
import { volumeSpace } from '../worker/volume-capacity.ts';
import type { ImportConfig } from './config.ts';
import type { ImportStatus } from './status.ts';

export interface ImportOutcome {
  result?: ConvertResult;
  preallocationApplied: boolean;
  labels?: Record<string, string>;
}

/** A failure with the prefix CDI's termination message puts before it ("Unable to process data"). */
export class ImportFailure extends Error {
  readonly error: CdiError;
  readonly prefix: string | undefined;

  constructor(prefix: string | undefined, error: unknown) {
    const coded = asCdiError(error);
    super(prefix ? `${prefix}: ${coded.message}` : coded.message, { cause: coded });
    this.name = 'ImportFailure';
    this.error = coded;
    this.prefix = prefix;
  }
}

export interface RunOptions {
  signal?: AbortSignal;
  logger: Logger;
  /** Tuning for tests and benchmarks. */
  http?: Partial<HttpOptions>;
}

async function fsyncPath(path: string, kind: string): Promise<void> {
  const handle = await open(path, kind === 'directory' ? 'r' : 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function convertTarget(config: ImportConfig): ConvertTarget {
  const { kind, path } = config.target;
  return kind === 'block' ? { kind: 'block', path, zeroed: false } : { kind, path };
}

async function runBlank(config: ImportConfig, status: ImportStatus, options: RunOptions): Promise<ImportOutcome> {
  if (config.contentType === 'archive') throw new ImportFailure(undefined, new CdiError('CDI_ERR_BLANK_ARCHIVE'));
  const space = await volumeSpace(config.target, config.imageSize, config.filesystemOverhead);
  const size = config.target.kind === 'block' ? space.capacity : space.size;
  if (size === undefined) throw new ImportFailure(undefined, new CdiError('CDI_ERR_WORKER_CONFIG', ['importer', 'a blank disk needs a size']));
  status.stage = 'TransferDataFile';
  status.sourceTotal = size;
  const { preallocationApplied } = await createBlank({ kind: config.target.kind === 'block' ? 'block' : 'file', path: config.target.path, size },
    config.preallocation, options.signal, (n) => { status.writtenBytes += n; status.sourceBytes += n; });
  if (config.target.kind === 'file') await chmod(config.target.path, 0o660);
  status.stage = 'Complete';
  return { preallocationApplied };
}

/**
 * One import, as CDI's importer runs it: open the source, stream it through the engine into
 * the target within CDI's usable size, let the source verify what is left, fsync, and report.
 */
export async function runImport(config: ImportConfig, status: ImportStatus, options: RunOptions): Promise<ImportOutcome> {
  const { logger, signal } = options;
  if (config.source === 'none') return runBlank(config, status, options);
  let source: ImportSource;
  try {
    // Only a remote source needs the HTTP client (undici): a blank disk never loads it.
    const { openSource } = await import('../sources/index.ts');
    source = await openSource({
      kind: config.source,
      endpoint: config.endpoint,
      ...(config.accessKey !== undefined ? { accessKey: config.accessKey } : {}),
      ...(config.secretKey !== undefined ? { secretKey: config.secretKey } : {}),
      ...(config.certDir ? { certDir: config.certDir } : {}),
      ...(config.proxyCertDir ? { proxyCertDir: config.proxyCertDir } : {}),
      insecure: config.insecureTls,
      extraHeaders: config.extraHeaders,
      ...(config.architecture ? { architecture: config.architecture } : {}),
      ...(config.idleTimeoutMs ? { idleTimeoutMs: config.idleTimeoutMs } : {}),
      ...(config.imageDir ? { imageDir: config.imageDir } : {}),
      ...(options.http ? { http: options.http } : {}),
      logger,
    }, signal);
  } catch (err) {
    const prefix = config.source === 'registry' ? 'Unable to process data' : `Unable to connect to ${config.source} data source`;
    throw new ImportFailure(signal?.aborted ? 'Unable to process data' : prefix, err);
  }
  try {
    status.attach(source.meter);
    // The engine loads once the source answered: its first request goes out sooner (docs/adr/0032).
    const { convert } = await import('../format/index.ts');
    const space = await volumeSpace(config.target, config.imageSize, config.filesystemOverhead);
    const scratchDir = config.scratchDir ?? os.tmpdir();
    const spillLimit = await scratchSpillLimit(scratchDir, 'importer');
    logger.info({ source: source.description, target: config.target, ...space, scratchDir, spillLimit }, 'importing');
    const result = await convert(source.input, convertTarget(config), {
      contentType: config.contentType,
      capacity: space.capacity,
      ...(space.size !== undefined ? { size: space.size } : {}),
      ...(config.checksum ? { checksum: config.checksum } : {}),
      preallocation: config.preallocation,
      scratchDir,
      spillLimit,
      ...(signal ? { signal } : {}),
      onProgress: (e) => status.onEngine(e),
      logger,
    });
    try {
      await source.complete(signal);
    } catch (err) {
      // The engine finished before the source could prove its bytes: the target must not look complete.
      if (config.target.kind === 'file') await rm(config.target.path, { force: true });
      throw err;
    }
    await fsyncPath(config.target.path, config.target.kind);
    if (config.target.kind === 'file') await chmod(config.target.path, 0o660);
    status.stage = 'Complete';
    logger.info({ ...result }, 'import complete');
    return { result, preallocationApplied: result.preallocationApplied, ...(source.labels && Object.keys(source.labels).length > 0 ? { labels: source.labels } : {}) };
  } catch (err) {
    if (err instanceof ImportFailure) throw err;
    throw new ImportFailure('Unable to process data', err);
  } finally {
    await source.close();
  }
}
