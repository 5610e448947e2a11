import type { Logger } from '../api/logger.ts';

export interface ShutdownOptions {
  /** How the process exits once `close` is done: 0 for a service, 1 for a worker whose work was cut short. */
  exitCode?: number;
  /** A close that hangs is cut off here, inside the pod's 30 s grace period. */
  graceMs?: number;
}

/**
 * SIGTERM/SIGINT handling for a process that may run as PID 1 (where the kernel gives signals
 * no default action): the first signal runs `close` and exits, a second exits at once, and a
 * close that hangs is cut off before the grace period ends.
 */
export function onShutdown(logger: Logger, close: (signal: NodeJS.Signals) => Promise<void>, options: ShutdownOptions = {}): void {
  const { exitCode = 0, graceMs = 20_000 } = options;
  let closing = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (closing) process.exit(1);
    closing = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error({ graceMs }, 'shutdown did not finish in time');
      process.exit(1);
    }, graceMs).unref();
    close(signal).then(
      () => process.exit(exitCode),
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
