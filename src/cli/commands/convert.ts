/**
 * `cdi convert INPUT|- OUTPUT`: runs the format engine locally. A file INPUT is read with
 * random access; `-` reads stdin as a stream (the path uploads and downloads take). The engine
 * is loaded only when the command runs (convert-run.ts), so `cdi --help` does not pay for it.
 */
import { Option, type Command } from 'commander';
import { CdiError } from '../../api/errors.ts';
import { parseQuantity } from '../../api/quantity.ts';
import type { ConvertFlags } from './convert-run.ts';

/** Kubernetes-style sizes: 1Gi, 512Mi, 10G, or plain bytes. */
export function parseSize(text: string): number {
  const bytes = parseQuantity(text);
  if (bytes === undefined || bytes < 0) throw new CdiError('CDI_ERR_USAGE', [`invalid size ${text}: want bytes or a quantity like 512Mi, 10Gi`]);
  return bytes;
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
      const { runConvert } = await import('./convert-run.ts');
      await runConvert(inputPath, outputPath, flags);
    });
}

