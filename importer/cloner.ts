/**
 * The source side of a host-assisted clone (image cdi-ts/cloner): streams the source volume to
 * the target volume's upload server over mutual TLS, as CDI's cdi-cloner does, and reports
 * kubevirt_cdi_clone_progress_total{ownerUID} on HTTPS :8443/metrics. Composition root only
 * (docs/adr/0006-host-assisted-clone.md).
 */
import { cloneToUploadServer } from '../src/cloner/clone.ts';
import { clonerConfigFromEnv } from '../src/cloner/config.ts';
import { cloneMetrics } from '../src/cloner/metrics.ts';
import { runWorker } from '../src/worker/main.ts';
import { serveMetrics, type MetricsServer } from '../src/worker/metrics-server.ts';
import { onShutdown } from '../src/worker/shutdown.ts';
import { successMessage, writeTermination } from '../src/worker/termination.ts';

await runWorker('cdi-cloner', async ({ logger, env, terminationLog }) => {
  const config = clonerConfigFromEnv(env);
  onShutdown(logger, async () => {}, { exitCode: 1 });
  const metrics = cloneMetrics(config.ownerUid);
  let server: MetricsServer | undefined;
  try {
    server = await serveMetrics(config.metrics, metrics.render);
    logger.info({ port: server.port }, 'serving metrics on https /metrics');
  } catch (err) {
    logger.warn({ err: (err as Error).message }, 'cannot serve metrics; cloning without them');
  }
  try {
    logger.info({ source: config.sourcePath, target: config.uploadUrl.href }, 'cloning');
    let logged = 0;
    const { bytes } = await cloneToUploadServer(config, (percent) => {
      metrics.progress(percent);
      if (percent - logged >= 10) {
        logged = percent;
        logger.info({ percent: percent.toFixed(1) }, 'progress');
      }
    });
    await writeTermination(terminationLog, successMessage({ message: 'Clone Complete' }));
    logger.info({ bytes }, 'clone complete');
    return 0;
  } finally {
    await server?.close();
  }
});
