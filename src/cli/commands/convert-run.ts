/** What `cdi convert` does once its arguments are parsed: convert, with a progress bar on a terminal. */
import { stat } from 'node:fs/promises';
import { convert, openFileInput, readDescriptor, type ConvertInput, type ConvertTarget, type ProgressEvent } from '../../format/index.ts';
import { createLogger } from '../../log.ts';

export interface ConvertFlags {
  contentType: 'kubevirt' | 'archive';
  size?: number;
  capacity?: number;
  checksum?: string;
  preallocation?: boolean;
  scratchDir?: string;
  progress: boolean;
}

export async function runConvert(inputPath: string, outputPath: string, flags: ConvertFlags): Promise<void> {
  const logger = createLogger('cdi-convert', process.env.LOG_LEVEL ?? 'warn');
  const abort = new AbortController();
  const onSignal = (): void => abort.abort('interrupted');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const file = inputPath === '-' ? undefined : await openFileInput(inputPath);
  const input: ConvertInput = file ? { kind: 'random', input: file } : { kind: 'stream', stream: readDescriptor(0, abort.signal) };
  // cli-progress loads only for a terminal: scripts and pipes do not pay for it
  const bar = flags.progress && process.stderr.isTTY ? progressBar((await import('cli-progress')).default) : undefined;
  try {
    const target = await targetFor(outputPath, flags.contentType);
    const result = await convert(input, target, {
      contentType: flags.contentType,
      capacity: flags.capacity,
      size: flags.size,
      checksum: flags.checksum,
      preallocation: flags.preallocation === true,
      scratchDir: flags.scratchDir,
      signal: abort.signal,
      logger,
      onProgress: bar?.update,
    });
    bar?.stop();
    const wrapped = result.compressions.length > 0 ? ` in ${result.compressions.join('+')}` : '';
    process.stdout.write(
      `${result.format}${wrapped}: ${result.virtualSize} bytes virtual, ${result.writtenBytes} bytes written, ` +
        `${result.sourceBytes} source bytes${result.spillBytes > 0 ? `, ${result.spillBytes} spilled` : ''}` +
        `${result.checksum ? `, ${result.checksum} verified` : ''}\n`,
    );
  } finally {
    bar?.stop();
    await file?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function targetFor(output: string, contentType: 'kubevirt' | 'archive'): Promise<ConvertTarget> {
  if (contentType === 'archive') return { kind: 'directory', path: output };
  const info = await stat(output).catch(() => undefined);
  return info?.isBlockDevice() ? { kind: 'block', path: output } : { kind: 'file', path: output };
}

function progressBar(cliProgress: typeof import('cli-progress')): { update: (e: ProgressEvent) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar(
    { format: '{stage} [{bar}] {percentage}% | {done} / {all} MiB read | {written} MiB written', hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let stopped = false;
  const mib = (n: number): string => (n / 2 ** 20).toFixed(0);
  return {
    update(e) {
      if (stopped) return;
      const total = e.sourceTotal ?? Math.max(e.sourceBytes, 1);
      const payload = { stage: e.stage.padEnd(7), done: mib(e.sourceBytes), all: e.sourceTotal === undefined ? '?' : mib(total), written: mib(e.writtenBytes) };
      if (!started) {
        bar.start(total, e.sourceBytes, payload);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(e.sourceBytes, payload);
      }
    },
    stop() {
      if (started && !stopped) bar.stop();
      stopped = true;
    },
  };
}
