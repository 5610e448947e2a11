import { CdiError, asCdiError } from '../api/errors.ts';
import { createLogger } from '../log.ts';
import { failureMessage, terminationLogPath, writeTermination } from './termination.ts';

export interface WorkerContext {
  logger: ReturnType<typeof createLogger>;
  env: NodeJS.ProcessEnv;
  /** Where this worker's termination message goes (CDI_TERMINATION_LOG or /dev/termination-log). */
  terminationLog: string;
}

/**
 * A failure the worker has already worded for its termination message (CDI's importer puts
 * "Unable to process data" before it and we add the stage), with the exit code CDI uses.
 */
export class WorkerFailure extends Error {
  readonly error: CdiError;
  readonly terminationText: string;
  readonly exitCode: number;

  constructor(error: CdiError, terminationText: string, exitCode: number) {
    super(terminationText, { cause: error });
    this.name = 'WorkerFailure';
    this.error = error;
    this.terminationText = terminationText;
    this.exitCode = exitCode;
  }
}

/**
 * Every worker's `main`: runs `body`, which returns the exit code (and writes its own
 * termination message on success). A thrown error is logged with its code, written as the
 * termination message and mapped to its exit code; then the log is flushed and the process
 * exits, whatever handles are still open.
 */
export async function runWorker(name: string, body: (context: WorkerContext) => Promise<number>): Promise<never> {
  const logger = createLogger(name);
  const terminationLog = terminationLogPath(process.env);
  let exitCode: number;
  try {
    exitCode = await body({ logger, env: process.env, terminationLog });
  } catch (err) {
    const failure = err instanceof WorkerFailure ? err : undefined;
    const coded = failure?.error ?? asCdiError(err);
    logger.error({ code: coded.code }, failure?.terminationText ?? coded.message);
    await writeTermination(terminationLog, failure?.terminationText ?? failureMessage(coded.message)).catch((writeErr: unknown) => {
      logger.error({ err: (writeErr as Error).message, file: terminationLog }, 'cannot write the termination message');
    });
    exitCode = failure?.exitCode ?? coded.exitCode;
  }
  logger.flush();
  return new Promise<never>(() => setImmediate(() => process.exit(exitCode)));
}
