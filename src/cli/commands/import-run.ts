/** What `cdi import` does once its flags are parsed: the importer worker's run, reported on a terminal. */
import cliProgress from 'cli-progress';
import { ImporterEnv } from '../../api/env.ts';
import { CdiError } from '../../api/errors.ts';
import { createLogger } from '../../log.ts';
import { parseSize, targetKindOf, type ImportConfig, type SourceKind } from '../../importer/config.ts';
import { ImportStatus } from '../../importer/status.ts';
import { ImportFailure, runImport } from '../../importer/worker.ts';

export interface ImportFlags {
  source: SourceKind;
  endpoint?: string;
  target: string;
  contentType: 'kubevirt' | 'archive';
  size?: string;
  filesystemOverhead: string;
  checksum?: string;
  accessKey?: string;
  secretKey?: string;
  certDir?: string;
  proxyCertDir?: string;
  insecure?: boolean;
  extraHeader: string[];
  architecture?: string;
  preallocation?: boolean;
  scratchDir?: string;
  idleTimeout?: string;
  progress: boolean;
}

function configFromFlags(flags: ImportFlags): ImportConfig {
  if (flags.source !== 'none' && !flags.endpoint) throw new CdiError('CDI_ERR_USAGE', ['--endpoint is required unless --source none']);
  const overhead = Number(flags.filesystemOverhead);
  if (!Number.isFinite(overhead) || overhead < 0 || overhead >= 1) throw new CdiError('CDI_ERR_USAGE', ['--filesystem-overhead wants a fraction like 0.055']);
  const imageSize = parseSize(flags.size, '--size');
  const accessKey = flags.accessKey ?? process.env[ImporterEnv.accessKeyId];
  const secretKey = flags.secretKey ?? process.env[ImporterEnv.secretKey];
  const extraHeaders = flags.extraHeader.map((h): [string, string] => {
    const colon = h.indexOf(':');
    if (colon <= 0) throw new CdiError('CDI_ERR_USAGE', [`--extra-header ${h}: want Name:value`]);
    return [h.slice(0, colon).trim(), h.slice(colon + 1).trim()];
  });
  const idle = flags.idleTimeout === undefined ? undefined : Number(flags.idleTimeout);
  if (idle !== undefined && !(idle > 0)) throw new CdiError('CDI_ERR_USAGE', ['--idle-timeout wants seconds']);
  return {
    source: flags.source,
    endpoint: flags.endpoint ?? '',
    contentType: flags.contentType,
    ...(imageSize !== undefined ? { imageSize } : {}),
    ...(accessKey ? { accessKey } : {}),
    ...(secretKey ? { secretKey } : {}),
    ...(flags.certDir ? { certDir: flags.certDir } : {}),
    ...(flags.proxyCertDir ? { proxyCertDir: flags.proxyCertDir } : {}),
    insecureTls: flags.insecure === true,
    extraHeaders,
    ...(flags.checksum ? { checksum: flags.checksum } : {}),
    ...(flags.architecture ? { architecture: flags.architecture } : {}),
    preallocation: flags.preallocation === true,
    filesystemOverhead: overhead,
    ownerUid: '',
    target: { kind: targetKindOf(flags.target, flags.contentType), path: flags.target },
    ...(flags.scratchDir ? { scratchDir: flags.scratchDir } : {}),
    ...(idle !== undefined ? { idleTimeoutMs: idle * 1000 } : {}),
  };
}

export async function runCliImport(flags: ImportFlags): Promise<number> {
  const config = configFromFlags(flags);
  const logger = createLogger('cdi-import', process.env.LOG_LEVEL ?? 'warn');
  const status = new ImportStatus(config.contentType);
  const abort = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => abort.abort(new CdiError('CDI_ERR_ABORTED', [signal]));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bar = flags.progress && process.stderr.isTTY ? progressBar(status) : undefined;
  try {
    const outcome = await runImport(config, status, { signal: abort.signal, logger });
    bar?.stop();
    const r = outcome.result;
    process.stdout.write(r
      ? `Import Complete: ${r.format}${r.compressions.length > 0 ? ` in ${r.compressions.join('+')}` : ''}, ${r.virtualSize} bytes virtual, `
        + `${r.writtenBytes} bytes written from ${status.bytesDone()} source bytes${r.checksum ? `, ${r.checksum} verified` : ''}\n`
      : `Import Complete: blank disk${outcome.preallocationApplied ? ', preallocated' : ''}\n`);
    return 0;
  } catch (err) {
    bar?.stop();
    const failure = err instanceof ImportFailure ? err : new ImportFailure('Unable to process data', err);
    process.stderr.write(`cdi: ${failure.error.code}: ${failure.message} (stage: ${status.stage}, ${status.bytesDone()} bytes done)\n`);
    return failure.error.exitCode;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function progressBar(status: ImportStatus): { stop: () => void } {
  const bar = new cliProgress.SingleBar(
    { format: '{stage} [{bar}] {percentage}% | {done} MiB received | {written} MiB written', hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  const mib = (n: number): string => (n / 2 ** 20).toFixed(0);
  const payload = () => ({ stage: status.stage.padEnd(16), done: mib(status.bytesDone()), written: mib(status.writtenBytes) });
  bar.start(100, 0, payload());
  const timer = setInterval(() => bar.update(Math.floor(status.percent() ?? 0), payload()), 250);
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      bar.update(Math.floor(status.percent() ?? 0), payload());
      bar.stop();
    },
  };
}
