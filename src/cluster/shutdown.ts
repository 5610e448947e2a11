import type { Logger } from '../api/logger.ts';

/**
 * SIGTERM/SIGINT handling for a process that may run as PID 1 (where the kernel gives signals
 * no default action): the first signal runs `close` and exits 0, a second exits at once, and a
 * close that hangs is cut off before the pod's 30 s grace period ends.
 */
export function onShutdown(logger: Logger, close: (signal: string) => Promise<void>, graceMs = 20_000): void {
  let closing = false;
  const handler = (signal: NodeJS.Signals) => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ graceMs }, 'shutdown did not finish in time');
      process.exit(1);
    }, graceMs).unref();
    close(signal).then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
