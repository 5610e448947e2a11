/**
 * `cdi convert INPUT|- OUTPUT`: runs the format engine locally. A file INPUT is read with
 * random access; `-` reads stdin as a stream (the path uploads and downloads take).
 */
import { stat } from 'node:fs/promises';
import cliProgress from 'cli-progress';
import { Command, Option } from 'commander';
import { CdiError } from '../../api/errors.ts';
import { convert, openFileInput, readDescriptor, type ConvertInput, type ConvertTarget, type ProgressEvent } from '../../format/index.ts';
import { parseQuantity } from '../../api/quantity.ts';
import { createLogger } from '../../log.ts';

/** Kubernetes-style sizes: 1Gi, 512Mi, 10G, or plain bytes. */
export function parseSize(text: string): number {
  const bytes = parseQuantity(text);
  if (bytes === undefined || bytes < 0) throw new CdiError('CDI_ERR_USAGE', [`invalid size ${text}: want bytes or a quantity like 512Mi, 10Gi`]);
  return bytes;
}

interface ConvertFlags {
  contentType: 'kubevirt' | 'archive';
  size?: number;
  capacity?: number;
  checksum?: string;
  preallocation?: boolean;
  scratchDir?: string;
  progress: boolean;
}

export function register(program: Command): void {
  program
    .command('convert')
    .description('convert a disk image (qcow2, raw, ISO; gzip/xz/zstd-compressed) to a raw disk, or extract a tar archive')
    .argument('<input>', 'image file, or - for stdin')
    .argument('<output>', 'raw disk file or block device (a directory for --content-type archive)')
    .addOption(new Option('--content-type <type>', 'what the input holds').choices(['kubevirt', 'archive']).default('kubevirt'))
    .option('--size <size>', 'grow the output file to this size (grow only, 1 MiB aligned)', parseSize)
    .option('--capacity <size>', 'refuse images that need more than this (like a PVC of that size)', parseSize)
    .option('--checksum <algo:hex>', 'verify the input bytes (md5, sha1, sha256, sha512)')
    .option('--preallocation', 'allocate the whole output instead of keeping it sparse')
    .option('--scratch-dir <dir>', 'where a qcow2 read from stdin may spill clusters')
    .option('--no-progress', 'no progress bar even on a terminal')
    .action(async (inputPath: string, outputPath: string, flags: ConvertFlags) => {
      await runConvert(inputPath, outputPath, flags);
    });
}

async function runConvert(inputPath: string, outputPath: string, flags: ConvertFlags): Promise<void> {
  const logger = createLogger('cdi-convert', process.env.LOG_LEVEL ?? 'warn');
  const abort = new AbortController();
  const onSignal = (): void => abort.abort('interrupted');
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const file = inputPath === '-' ? undefined : await openFileInput(inputPath);
  const input: ConvertInput = file ? { kind: 'random', input: file } : { kind: 'stream', stream: readDescriptor(0, abort.signal) };
  const bar = flags.progress && process.stderr.isTTY ? progressBar() : undefined;
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

function progressBar(): { update: (e: ProgressEvent) => void; stop: () => void } {
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
