import { Command, Option } from 'commander';
import { CdiError, asCdiError } from '../src/api/errors.ts';
import type { UploadFailureRecorder, UploadTargetResolver } from '../src/api/upload-target.ts';
import { createLogger } from '../src/log.ts';
import { onShutdown } from '../src/worker/shutdown.ts';
import { startClusterUploadProxy } from '../src/cluster/uploadproxy/server.ts';

/** cdi-uploadproxy for cluster mode: CDI's mount points, certificates reloaded without a restart. */
interface Flags {
  kubeconfig?: string;
  address: string;
  port: number;
  tlsDir: string;
  clientCertDir: string;
  serverCaDir: string;
  localSocketDir?: string;
  exitWithStdin?: boolean;
  publicKey?: string;
}

const program = new Command('cdi-uploadproxy')
  .description('Verifies upload tokens and forwards uploads over mutual TLS to the volume\'s upload server')
  .option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster service account, then $KUBECONFIG, then ~/.kube/config)')
  .option('--address <ip>', 'listen address', '0.0.0.0')
  .option('--port <port>', 'HTTPS port', (v) => Number.parseInt(v, 10), 8443)
  .option('--tls-dir <dir>', 'serving certificate (tls.crt, tls.key)', '/var/run/certs/cdi-uploadproxy-server-cert')
  .option('--client-cert-dir <dir>', 'client certificate for the upload servers (tls.crt, tls.key)', '/var/run/certs/cdi-uploadserver-client-cert')
  .option('--server-ca-dir <dir>', 'CA bundle of the upload servers (ca-bundle.crt)', '/var/run/ca-bundle/cdi-uploadserver-signer-bundle')
  .option('--local-socket-dir <dir>', "embedded mode (cdi serve): the node agent's owner-only directory of upload server sockets")
  .option('--exit-with-stdin', 'exit when standard input closes (cdi serve runs it this way, so it ends with serve even after a kill -9)')
  .addOption(new Option('--public-key <pem>', 'token verification key (PEM)').env('APISERVER_PUBLIC_KEY'))
  .action(async (flags: Flags) => {
    const logger = createLogger('cdi-uploadproxy');
    if (!flags.publicKey) throw new CdiError('CDI_ERR_WORKER_CONFIG', ['upload proxy', 'APISERVER_PUBLIC_KEY is not set']);
    // The Kubernetes client is two thirds of this process's modules (~870 of client-node); it
    // loads once the port listens, so that `cdi serve` is ready sooner (docs/adr/0030). The
    // first upload waits for it; a kubeconfig that cannot be used ends the process.
    let listening!: () => void;
    const kube = new Promise<void>((resolve) => (listening = resolve)).then(() => loadKube(flags.kubeconfig));
    kube.then(
      ({ source }) => logger.info({ kubeconfig: source }, 'upload proxy reads upload targets through the API'),
      (err: unknown) => fail(err),
    );
    const proxy = await startClusterUploadProxy({
      host: flags.address,
      port: flags.port,
      servingDir: flags.tlsDir,
      clientDir: flags.clientCertDir,
      serverCaDir: flags.serverCaDir,
      publicKeyPem: flags.publicKey,
      ...(flags.localSocketDir ? { localSocketDir: flags.localSocketDir } : {}),
      resolver: { resolve: async (namespace, name) => (await kube).resolver.resolve(namespace, name) },
      failures: { uploadFailed: async (namespace, name, message) => (await kube).failures.uploadFailed(namespace, name, message) },
      logger,
    });
    logger.info({ url: proxy.url }, 'upload proxy listening');
    listening();
    onShutdown(logger, () => proxy.close());
    if (flags.exitWithStdin) {
      process.stdin.once('close', () => {
        logger.warn({}, 'standard input closed: the parent is gone, exiting');
        process.kill(process.pid, 'SIGTERM');
      });
      process.stdin.resume();
    }
  });

async function loadKube(kubeconfig: string | undefined): Promise<{ resolver: UploadTargetResolver; failures: UploadFailureRecorder; source: string }> {
  const [{ selectKubeConfig }, { createUploadFailureRecorder, createUploadTargetResolver }] = await Promise.all([
    import('../src/cluster/kubeconfig.ts'),
    import('../src/controller/upload-resolver.ts'),
  ]);
  const { kubeConfig, source } = selectKubeConfig({ kubeconfig });
  return { resolver: createUploadTargetResolver(kubeConfig), failures: createUploadFailureRecorder(kubeConfig), source };
}

function fail(err: unknown): never {
  const cdiErr = asCdiError(err);
  process.stderr.write(`cdi-uploadproxy: ${cdiErr.code}: ${cdiErr.message}\n`);
  process.exit(cdiErr.exitCode);
}

try {
  await program.parseAsync(process.argv);
} catch (err) {
  fail(err);
}
