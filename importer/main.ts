/**
 * CDI's importer worker: reads CDI's env contract, serves progress on HTTPS :8443/metrics,
 * imports, and leaves CDI's termination message. Composition root only.
 */
import { LocalEnv, PodPaths } from '../src/api/env.ts';
import { CdiError, asCdiError } from '../src/api/errors.ts';
import { createLogger } from '../src/log.ts';
import { configFromEnv } from '../src/importer/config.ts';
import { serveMetrics, type MetricsServer } from '../src/importer/metrics.ts';
import { ImportStatus } from '../src/importer/status.ts';
import { failureMessage, successMessage, writeTermination } from '../src/importer/termination.ts';
import { ImportFailure, runImport } from '../src/importer/worker.ts';

const logger = createLogger('cdi-importer');

async function main(): Promise<number> {
  let config;
  try {
    config = configFromEnv(process.env);
  } catch (err) {
    const coded = asCdiError(err);
    logger.error({ code: coded.code }, coded.message);
    await writeTermination(process.env[LocalEnv.terminationLog] || PodPaths.terminationLog, coded.message).catch(() => {});
    return 1;
  }
  const status = new ImportStatus(config.contentType);
  const controller = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.warn({ signal }, 'stopping the import');
      controller.abort(new CdiError('CDI_ERR_ABORTED', [signal]));
      // Within the pod's grace period even if something ignores the abort.
      setTimeout(() => process.exit(1), 20_000).unref();
    });
  }
  let metrics: MetricsServer | undefined;
  try {
    metrics = await serveMetrics(status, config.ownerUid, config.listenHost, config.listenPort);
    logger.info({ port: metrics.port }, 'serving metrics on https /metrics');
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'cannot serve metrics; importing without them');
  }
  try {
    const outcome = await runImport(config, status, { signal: controller.signal, logger });
    await writeTermination(config.terminationLog, successMessage({
      preallocationApplied: outcome.preallocationApplied,
      ...(outcome.labels ? { labels: outcome.labels } : {}),
      message: 'Import Complete',
      stage: status.stage,
      bytesDone: status.bytesDone(),
    }));
    return 0;
  } catch (err) {
    const failure = err instanceof ImportFailure ? err : new ImportFailure('Unable to process data', err);
    logger.error({ code: failure.error.code, stage: status.stage }, failure.message);
    if (failure.error.code === 'CDI_ERR_CHECKSUM_MISMATCH') {
      // CDI exits 0 with a JSON message; its controller then marks the import failed for good.
      await writeTermination(config.terminationLog, successMessage({
        message: `checksum validation failed: ${failure.error.message}`, stage: status.stage, bytesDone: status.bytesDone(),
      }));
      return 0;
    }
    await writeTermination(config.terminationLog, failureMessage(failure.message, status));
    return 1;
  } finally {
    await metrics?.close();
  }
}

process.exitCode = await main();
logger.flush?.();
setImmediate(() => process.exit());
