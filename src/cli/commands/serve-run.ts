/** What `cdi serve` does once its flags are parsed: start everything, print the banner, stop on a signal. */
import { createLogger } from '../../log.ts';
import { DroppingDestination } from '../../log-destination.ts';
import { chooseLogFormat, textLogDestination, type LogFormat } from '../serve/log-format.ts';
import { startServe } from '../serve/run.ts';

export interface ServeFlags {
  dataDir: string;
  host: string;
  port: number;
  uploadProxyPort: number;
  logFormat?: LogFormat;
  vmAccelerator: 'auto' | 'kvm' | 'tcg';
}

export async function runServe(flags: ServeFlags): Promise<void> {
  const text = chooseLogFormat(flags.logFormat, process.stdout) === 'text';
  const color = text && process.stdout.isTTY && !process.env.NO_COLOR;
  const logger = createLogger('cdi-serve', undefined, text ? textLogDestination(new DroppingDestination(), color) : undefined);
  const serve = await startServe({ dataDir: flags.dataDir, host: flags.host, port: flags.port, uploadProxyPort: flags.uploadProxyPort, vmAccelerator: flags.vmAccelerator, logger });
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
