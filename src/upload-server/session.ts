import type { Readable } from 'node:stream';
import { CdiError, isCdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import type { ConvertResult } from '../format/index.ts';
import { ByteFeed } from './feed.ts';

export type UploadContentType = 'kubevirt' | 'archive';

/** Starts one format-engine run over `stream`; the session owns when it starts and stops. */
export type RunEngine = (run: {
  stream: AsyncIterable<Uint8Array>;
  size: number | undefined;
  contentType: UploadContentType;
  checksum: string | undefined;
  signal: AbortSignal;
}) => Promise<ConvertResult>;

/** One request's part of an upload: a whole upload, or the continuation of an interrupted one. */
export interface UploadAttempt {
  body: Readable;
  contentType: UploadContentType;
  /** Body bytes this request announces (Content-Length), when known. */
  contentLength: number | undefined;
  /** Where this body starts in the image; > 0 continues an interrupted upload. */
  offset: number | undefined;
  /** Total image bytes when the request states it (Content-Range `/total`). */
  total: number | undefined;
  checksum: string | undefined;
  /** Octet-stream bodies can be continued after a cut-off; multipart ones start over. */
  resumable: boolean;
}

/**
 * CDI's upload server is a small state machine (one upload at a time, 409 once done); this one
 * adds `interrupted`: a cut-off octet-stream upload keeps its engine run waiting for a
 * continuation for `resumeWindowMs`, then is discarded so a fresh attempt starts clean.
 */
export type UploadPhase = 'idle' | 'receiving' | 'interrupted' | 'processing' | 'done';

interface Run {
  feed: ByteFeed;
  controller: AbortController;
  promise: Promise<ConvertResult>;
  outcome: { ok: true } | { ok: false; error: unknown } | undefined;
  total: number | undefined;
  contentType: UploadContentType;
  timer: NodeJS.Timeout | undefined;
}

export class UploadSession {
  readonly #runEngine: RunEngine;
  readonly #resumeWindowMs: number;
  readonly #idleBodyMs: number | undefined;
  readonly #logger: Logger;
  readonly #volumesOnNodeDisk: boolean;
  #phase: UploadPhase = 'idle';
  #run: Run | undefined;

  /**
   * `idleBodyMs`: a request body that sends nothing for this long is cut (ByteFeed.pump).
   * `volumesOnNodeDisk`: see uploadFailure.
   */
  constructor(opts: { runEngine: RunEngine; resumeWindowMs: number; idleBodyMs?: number; logger: Logger; volumesOnNodeDisk?: boolean }) {
    this.#runEngine = opts.runEngine;
    this.#volumesOnNodeDisk = opts.volumesOnNodeDisk ?? false;
    this.#resumeWindowMs = opts.resumeWindowMs;
    this.#idleBodyMs = opts.idleBodyMs;
    this.#logger = opts.logger;
  }

  get phase(): UploadPhase {
    return this.#phase;
  }

  /** Bytes of the current upload the server holds: where a continuation starts. */
  get offset(): number {
    return this.#run?.feed.accepted ?? 0;
  }

  get total(): number | undefined {
    return this.#run?.total;
  }

  async upload(attempt: UploadAttempt): Promise<ConvertResult> {
    if (this.#phase === 'done') throw new CdiError('CDI_ERR_UPLOAD_DONE');
    if (this.#phase === 'receiving' || this.#phase === 'processing') throw new CdiError('CDI_ERR_UPLOAD_BUSY');
    const run = (attempt.offset ?? 0) > 0 ? this.#continue(attempt) : await this.#start(attempt);
    this.#phase = 'receiving';
    try {
      await run.feed.pump(attempt.body, this.#idleBodyMs);
    } catch (err) {
      return this.#interrupted(run, attempt, err);
    }
    if (run.total !== undefined && run.feed.accepted !== run.total) {
      return this.#interrupted(run, attempt, new Error(`body ended at ${run.feed.accepted} of ${run.total} bytes`));
    }
    run.feed.end();
    this.#phase = 'processing';
    try {
      const result = await run.promise;
      this.#phase = 'done';
      return result;
    } catch (err) {
      this.#run = undefined;
      this.#phase = 'idle';
      throw uploadFailure(err, this.#volumesOnNodeDisk);
    }
  }

  /** Stops whatever is running (server shutdown); the engine aborts its target. */
  async close(): Promise<void> {
    if (this.#run && this.#phase !== 'done') await this.#discard(this.#run, 'upload server is shutting down');
  }

  async #start(attempt: UploadAttempt): Promise<Run> {
    if (this.#run) await this.#discard(this.#run, 'replaced by a new upload');
    const feed = new ByteFeed();
    const controller = new AbortController();
    const total = attempt.total ?? attempt.contentLength;
    const promise = this.#runEngine({
      stream: feed,
      size: total,
      contentType: attempt.contentType,
      checksum: attempt.checksum,
      signal: controller.signal,
    });
    const run: Run = { feed, controller, promise, outcome: undefined, total, contentType: attempt.contentType, timer: undefined };
    promise.then(
      () => {
        run.outcome = { ok: true };
      },
      (error: unknown) => {
        run.outcome = { ok: false, error };
        feed.fail(error);
      },
    );
    this.#run = run;
    this.#logger.info({ total, contentType: attempt.contentType }, 'upload started');
    return run;
  }

  #continue(attempt: UploadAttempt): Run {
    const run = this.#run;
    const offset = attempt.offset ?? 0;
    if (this.#phase !== 'interrupted' || !run || run.outcome?.ok === false) {
      throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`no interrupted upload to continue at offset ${offset}`]);
    }
    if (offset !== run.feed.accepted) {
      throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`offset ${offset} does not match the ${run.feed.accepted} bytes held`]);
    }
    const end = attempt.contentLength === undefined ? undefined : offset + attempt.contentLength;
    if (run.total !== undefined && end !== undefined && end !== run.total) {
      throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`continuation ends at ${end}, the upload has ${run.total} bytes`]);
    }
    if (attempt.contentType !== run.contentType) {
      throw new CdiError('CDI_ERR_UPLOAD_RESUME', [`continuation content type ${attempt.contentType} differs from ${run.contentType}`]);
    }
    clearTimeout(run.timer);
    run.timer = undefined;
    this.#logger.info({ offset }, 'upload resumed');
    return run;
  }

  async #interrupted(run: Run, attempt: UploadAttempt, cause: unknown): Promise<never> {
    if (run.outcome?.ok === false) {
      this.#run = undefined;
      this.#phase = 'idle';
      throw uploadFailure(run.outcome.error, this.#volumesOnNodeDisk);
    }
    const held = run.feed.accepted;
    if (attempt.resumable) {
      this.#phase = 'interrupted';
      run.timer = setTimeout(() => {
        this.#logger.warn({ held }, 'interrupted upload was not continued in time; discarding it');
        void this.#discard(run, 'not continued in time');
      }, this.#resumeWindowMs);
      run.timer.unref();
      this.#logger.warn({ held, err: String(cause) }, 'upload interrupted; waiting for a continuation');
    } else {
      await this.#discard(run, 'interrupted');
      this.#phase = 'idle';
    }
    throw new CdiError('CDI_ERR_ABORTED', [`upload interrupted after ${held} bytes`], { cause });
  }

  async #discard(run: Run, reason: string): Promise<void> {
    clearTimeout(run.timer);
    run.controller.abort(new CdiError('CDI_ERR_ABORTED', [reason]));
    run.feed.fail(new CdiError('CDI_ERR_ABORTED', [reason]));
    await run.promise.catch(() => undefined);
    if (this.#run === run) {
      this.#run = undefined;
      if (this.#phase === 'interrupted') this.#phase = 'idle';
    }
  }
}

/**
 * CDI's answer for a failed save: 400 for capacity, 500 for everything else. Under cdi serve's
 * node agent (`volumesOnNodeDisk`) a volume is a file whose capacity is a file-size limit, so a
 * full volume shows as EFBIG (still 400); ENOSPC or EDQUOT there is the node's disk being full,
 * which no larger DataVolume fixes, and is answered so (as rewriteSpaceError does for imports).
 */
export function uploadFailure(err: unknown, volumesOnNodeDisk = false): CdiError {
  if (isCdiError(err) && (err.code === 'CDI_ERR_UPLOAD_TOO_LARGE' || err.code === 'CDI_ERR_UPLOAD_SAVE' || err.code === 'CDI_ERR_NODE_DISK_FULL')) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (volumesOnNodeDisk && hasErrno(err, ['ENOSPC', 'EDQUOT'])) return new CdiError('CDI_ERR_NODE_DISK_FULL', [], { cause: err });
  if (isCdiError(err, 'CDI_ERR_TOO_LARGE') || isCdiError(err, 'CDI_ERR_SIZE_SHRINK') || hasErrno(err, ['ENOSPC', 'EDQUOT', 'EFBIG'])) {
    return new CdiError('CDI_ERR_UPLOAD_TOO_LARGE', [message], { cause: err });
  }
  return new CdiError('CDI_ERR_UPLOAD_SAVE', [message], { cause: err });
}

function hasErrno(err: unknown, codes: string[]): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && codes.includes(code)) return true;
  }
  return false;
}
