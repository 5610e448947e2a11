/**
 * `cdi image-upload dv|pvc NAME --image-path FILE --size 10Gi`: virtctl image-upload's flags,
 * flow and messages, plus `--resume` and `--checksum` (docs/upload-resume.md). The Kubernetes
 * client is loaded only when the command runs (image-upload-run.ts).
 */
import type { Command } from 'commander';
import type { ImageUploadFlags } from '../upload/flags.ts';

export function register(program: Command): void {
  program
    .command('image-upload')
    .description('upload a local disk image (or tar archive) into a new or existing DataVolume or PVC, like virtctl image-upload')
    .usage('dv|pvc NAME [flags]')
    .argument('[args...]', 'dv|pvc and the name')
    .option('--image-path <path>', 'path to the local VM image')
    .option('--archive-path <path>', 'path to the local archive (contentType archive)')
    .option('--size <size>', 'the size of the DataVolume or PVC to create (e.g. 10Gi)')
    .option('--pvc-size <size>', 'deprecated, use --size')
    .option('--pvc-name <name>', 'deprecated, use pvc NAME')
    .option('--storage-class <name>', 'the storage class for the PVC')
    .option('--access-mode <mode>', 'the access mode for the PVC')
    .option('--volume-mode <mode>', 'block or filesystem (default: the StorageProfile default)')
    .option('--block-volume', 'deprecated, use --volume-mode=block')
    .option('--no-create', "don't create the DataVolume or PVC, use an existing one")
    .option('--wait-secs <secs>', 'seconds to wait for the upload pod to be ready', '300')
    .option('--retry <n>', 'upload attempts on transient errors', '5')
    .option('--force-bind', 'force bind the PVC, ignoring the WaitForFirstConsumer logic')
    .option('--insecure', 'allow insecure server connections to the upload proxy')
    .option('--uploadproxy-url <url>', 'the URL of the cdi-upload proxy service (default: from the CDIConfig)')
    .option('--datasource', 'create a DataSource named like the volume, pointing at it')
    .option('--default-instancetype <name>', 'the default instance type to label the volume with')
    .option('--default-instancetype-kind <kind>', 'the kind of the default instance type')
    .option('--default-preference <name>', 'the default preference to label the volume with')
    .option('--default-preference-kind <kind>', 'the kind of the default preference')
    .option('--resume', 'continue an interrupted upload from where the server stopped instead of starting over')
    .option('--checksum <algo[:hex]>', 'verify the upload: algo:hex of the file, or just algo to compute it first')
    .option('-n, --namespace <ns>', 'namespace (default: the kubeconfig context, then default)')
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
    .action(async (args: string[], flags: ImageUploadFlags) => {
      const { imageUpload } = await import('./image-upload-run.ts');
      await imageUpload(args, flags);
    });
}

