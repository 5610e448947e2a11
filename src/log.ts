import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import { DroppingDestination } from './log-destination.ts';

/** Fields that may carry secrets; pino replaces their values before a line is written. */
const redactPaths = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'password',
  '*.password',
  'secretKey',
  '*.secretKey',
  'IMPORTER_SECRET_KEY',
  '*.IMPORTER_SECRET_KEY',
];

/**
 * The process-wide logger on standard output (JSON, or what `destination` makes of each record:
 * `cdi serve` on a terminal prints readable lines); composition roots create it and pass it down.
 * Logging never blocks nor kills the process: lines that cannot be written are dropped.
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', destination: DestinationStream = new DroppingDestination()): PinoLogger {
  return pino({ name, level, redact: { paths: redactPaths, censor: '[redacted]' } }, destination);
}
