/**
 * CDI's importer worker: reads CDI's env contract, serves progress on HTTPS :8443/metrics,
 * imports, and leaves CDI's termination message. Composition root only; the import itself (the
 * format engine and the HTTP client) loads once the metrics port listens.
 */
import { CdiError } from '../src/api/errors.ts';
import { configFromEnv } from '../src/importer/config.ts';
import { importMetrics } from '../src/importer/metrics.ts';
import { ImportStatus } from '../src/importer/status.ts';
import { runWorker, WorkerFailure } from '../src/worker/main.ts';
import { serveMetrics, type MetricsServer } from '../src/worker/metrics-server.ts';
import { onShutdown } from '../src/worker/shutdown.ts';
import { failureMessage, successMessage, writeTermination } from '../src/worker/termination.ts';

await runWorker('cdi-importer', async ({ logger, env }) => {
  const config = configFromEnv(env);
  const status = new ImportStatus(config.contentType);
  const controller = new AbortController();
  // The aborted import fails like any other: runWorker writes its message and exits.
  onShutdown(logger, (signal) => {
    logger.warn({ signal }, 'stopping the import');
    controller.abort(new CdiError('CDI_ERR_ABORTED', [signal]));
    return new Promise<void>(() => {});
  }, { exitCode: 1 });
  let metrics: MetricsServer | undefined;
  try {
    metrics = await serveMetrics(config.metrics, importMetrics(status, config.ownerUid).render);
    logger.info({ port: metrics.port }, 'serving metrics on https /metrics');
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'cannot serve metrics; importing without them');
  }
  const { ImportFailure, runImport } = await import('../src/importer/worker.ts');
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
    if (failure.error.code === 'CDI_ERR_CHECKSUM_MISMATCH') {
      logger.error({ code: failure.error.code, stage: status.stage }, failure.message);
      // CDI exits 0 with a JSON message; its controller then marks the import failed for good.
      await writeTermination(config.terminationLog, successMessage({
        message: `checksum validation failed: ${failure.error.message}`, stage: status.stage, bytesDone: status.bytesDone(),
      }));
      return 0;
    }
    throw new WorkerFailure(failure.error, failureMessage(failure.message, ` (stage: ${status.stage}, ${status.bytesDone()} bytes done)`), 1);
  } finally {
    await metrics?.close();
  }
});
