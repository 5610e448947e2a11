/**
 * `cdi serve`: the embedded control plane on one machine (API server, node agent, controller,
 * upload proxy), everything under one data dir, stopped together by SIGTERM or SIGINT. The
 * control plane's modules are loaded only when the command runs (serve-run.ts).
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { defaultDataDir } from '../serve/data-dir.ts';
import type { ServeFlags } from './serve-run.ts';

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
    .addOption(new Option('--vm-accelerator <mode>', 'how the local VM runtime runs guests: kvm, tcg (software emulation) or auto (KVM when /dev/kvm opens read-write)').choices(['auto', 'kvm', 'tcg']).default('auto'))
    .addOption(new Option('--log-format <format>', 'log lines as text or JSON (default: text on a terminal, JSON otherwise)').choices(['text', 'json']))
    .addHelpText(
      'after',
      `
The data dir defaults to $XDG_DATA_HOME/cdi, that is ~/.local/share/cdi. Once the API answers,
DIR/kubeconfig is written (mode 0600); point kubectl and cdi at it with
  export KUBECONFIG=DIR/kubeconfig`,
    )
    .action(async (flags: ServeFlags) => {
      const { runServe } = await import('./serve-run.ts');
      await runServe(flags);
    });
}

