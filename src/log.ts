import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';

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
 * The process-wide JSON logger; composition roots create it and pass it down. `destination`
 * replaces stdout (`cdi serve` on a terminal gives one that prints readable lines).
 */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): PinoLogger {
  const options = { name, level, redact: { paths: redactPaths, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
