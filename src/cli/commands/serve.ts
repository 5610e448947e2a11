/**
 * `cdi serve`: the embedded control plane on one machine (API server, node agent, controller,
 * upload proxy), everything under one data dir, stopped together by SIGTERM or SIGINT.
 */
import { Command, InvalidArgumentError } from 'commander';
import { createLogger } from '../../log.ts';
import { defaultDataDir } from '../serve/data-dir.ts';
import { startServe } from '../serve/run.ts';

interface ServeFlags {
  dataDir: string;
  host: string;
  port: number;
  uploadProxyPort: number;
}

function port(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('want a port number 0-65535 (0: any free port)');
  return n;
}

export function register(program: Command): void {
  program
    .command('serve')
    .description('run the embedded control plane: a Kubernetes-compatible API, the local node agent, the DataVolume controller and the upload proxy')
    .option('--data-dir <dir>', 'where objects, volumes, logs and certificates live', defaultDataDir())
    .option('--host <address>', 'address the API server and the upload proxy bind to', '127.0.0.1')
    .option('--port <n>', 'API server port (0: any free port)', port, 6443)
    .option('--upload-proxy-port <n>', 'upload proxy port (0: any free port)', port, 8443)
    .addHelpText(
      'after',
      `
The data dir defaults to $XDG_DATA_HOME/cdi, that is ~/.local/share/cdi. Once the API answers,
DIR/kubeconfig is written (mode 0600); point kubectl and cdi at it with
  export KUBECONFIG=DIR/kubeconfig`,
    )
    .action(async (flags: ServeFlags) => {
      await runServe(flags);
    });
}

async function runServe(flags: ServeFlags): Promise<void> {
  const logger = createLogger('cdi-serve');
  const serve = await startServe({ dataDir: flags.dataDir, host: flags.host, port: flags.port, uploadProxyPort: flags.uploadProxyPort, logger });
  logger.info({ api: serve.apiUrl, kubeconfig: serve.kubeconfigPath, uploadProxy: serve.uploadProxyUrl }, 'cdi serve is ready');
  process.stderr.write(
    `\ncdi serve is ready.\n` +
      `  API server:   ${serve.apiUrl}\n` +
      `  upload proxy: ${serve.uploadProxyUrl}\n` +
      `  kubeconfig:   ${serve.kubeconfigPath}\n\n` +
      `Use it with:\n  export KUBECONFIG=${serve.kubeconfigPath}\n  kubectl get datavolumes\n\n`,
  );
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, 'stopping');
      void serve.close().finally(resolve);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
  });
  logger.info({}, 'cdi serve stopped');
  process.exit(0);
}
