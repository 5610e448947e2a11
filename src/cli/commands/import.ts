/**
 * `cdi import --source http|s3|registry|none --endpoint URL --target PATH [flags]`: runs the
 * importer worker's own code locally (same sources, sizes and checks), with a progress bar on
 * a terminal. The importer is loaded only when the command runs (import-run.ts).
 */
import { Option, type Command } from 'commander';
import { ImporterEnv } from '../../api/env.ts';
import type { ImportFlags } from './import-run.ts';

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function register(program: Command): void {
  program
    .command('import')
    .description("import a disk image from HTTP(S), S3 or an OCI registry (or make a blank disk) the way CDI's importer pod does")
    .addOption(new Option('--source <kind>', 'where the image comes from').choices(['http', 's3', 'registry', 'none']).makeOptionMandatory())
    .option('--endpoint <url>', 'http(s)://…, s3 object URL, or docker://host[:port]/repo[:tag|@digest]')
    .requiredOption('--target <path>', 'raw disk file or block device (a directory for --content-type archive)')
    .addOption(new Option('--content-type <type>', 'what the source holds').choices(['kubevirt', 'archive']).default('kubevirt'))
    .option('--size <size>', 'volume size (like a PVC request: 10Gi); the disk is grown to the usable part of it')
    .option('--filesystem-overhead <fraction>', 'share of the volume kept for the filesystem', '0')
    .option('--checksum <algo:hex>', 'verify the source bytes (md5, sha1, sha256, sha512)')
    .option('--access-key <id>', `user or access key id (default $${ImporterEnv.accessKeyId})`)
    .option('--secret-key <secret>', `password or secret key (default $${ImporterEnv.secretKey})`)
    .option('--cert-dir <dir>', 'directory of extra CA certificates')
    .option('--proxy-cert-dir <dir>', 'directory of CA certificates for the proxy')
    .option('--insecure', 'skip TLS verification (and allow plain-HTTP registries)')
    .option('--extra-header <name:value>', 'add a header to every request (repeatable)', collect, [])
    .option('--architecture <arch>', 'platform architecture to pick from a registry index')
    .option('--preallocation', 'allocate the whole target instead of keeping it sparse')
    .option('--scratch-dir <dir>', 'where a streamed qcow2 may spill clusters')
    .option('--idle-timeout <seconds>', 'cancel a download after this long without data (default 600)')
    .option('--no-progress', 'no progress bar even on a terminal')
    .action(async (flags: ImportFlags) => {
      const { runCliImport } = await import('./import-run.ts');
      process.exitCode = await runCliImport(flags);
    });
}

