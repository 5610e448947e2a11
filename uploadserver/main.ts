/**
 * cdi-uploadserver: one per upload volume. Receives the image over mTLS from the upload proxy (in
 * embedded mode over an owner-only unix socket), writes it into the volume through the format
 * engine, then writes CDI's termination message and exits 0 (the pod succeeds, the DataVolume
 * follows).
 */
import type { AddressInfo } from 'node:net';
import { buildUploadServer } from '../src/upload-server/app.ts';
import { readUploadServerConfig } from '../src/upload-server/config.ts';
import { volumeEngine } from '../src/upload-server/engine.ts';
import { runWorker } from '../src/worker/main.ts';
import { onShutdown } from '../src/worker/shutdown.ts';
import { successMessage, writeTermination, type TerminationMessage } from '../src/worker/termination.ts';

await runWorker('cdi-uploadserver', async ({ logger, env }) => {
  const config = readUploadServerConfig(env);
  let finish!: (message: TerminationMessage) => void;
  const finished = new Promise<TerminationMessage>((resolve) => (finish = resolve));
  const { app, session, serveLocal } = buildUploadServer({
    contentType: config.contentType,
    ...(config.tls ? { tls: config.tls } : {}),
    ...(config.clientName ? { clientName: config.clientName } : {}),
    resumeWindowMs: config.resumeWindowMs,
    volumesOnNodeDisk: config.volumesOnNodeDisk,
    logger,
    runEngine: volumeEngine({
      target: config.target,
      imageSize: config.imageSize,
      filesystemOverhead: config.filesystemOverhead,
      preallocation: config.preallocation,
      scratchDir: config.scratchDir,
      logger,
    }),
    onComplete: (result) => {
      logger.info({ ...result }, 'Upload Complete');
      finish({ message: 'Upload Complete', preallocationApplied: result.preallocationApplied });
    },
  });

  if (config.deadline) {
    // CDI: at the deadline an idle server that has not finished exits so the pod is recreated with fresh certs.
    const deadline = config.deadline;
    const check = (): void => {
      if (session.phase === 'idle' || session.phase === 'interrupted') {
        logger.warn({ deadline }, 'Deadline Passed');
        void session.close().then(() => finish({ deadlinePassed: true, message: 'Deadline Passed' }));
      } else if (session.phase !== 'done') {
        setTimeout(check, 5_000).unref();
      }
    };
    setTimeout(check, Math.min(2 ** 31 - 1, Math.max(0, deadline.getTime() - Date.now()))).unref();
  }

  onShutdown(logger, async () => {
    await Promise.all([session.close(), app.close()]);
  }, { exitCode: 1 });

  // The socket first: once the port answers the readiness probe, the proxy may use either.
  if (config.socket) await serveLocal(config.socket);
  await app.listen({ host: config.host, port: config.port });
  // The bound port, not the asked one: CDI_LISTEN_PORT=0 picks a free port.
  logger.info(
    { host: config.host, port: (app.server.address() as AddressInfo).port, socket: config.socket, target: config.target, contentType: config.contentType },
    'upload server listening',
  );

  await writeTermination(config.terminationLog, successMessage(await finished));
  await app.close();
  return 0;
});
