import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CoreV1Api } from '@kubernetes/client-node';
import { CdiError } from '../../api/errors.ts';
import type { Logger } from '../../api/logger.ts';
import { relayNodeFlags } from '../../api/runtime.ts';
import { findTool } from '../../node/tools.ts';
import { keepRenewed } from '../../cluster/pki/serving-renewal.ts';
import { uploadClientTls } from './upload-proxy-tls.ts';

export interface UploadProxyRunner {
  url: string;
  close(): Promise<void>;
}

export interface UploadProxyRunOptions {
  host: string;
  /** 0 picks a free port once; restarts of the process keep it. */
  port: number;
  tls: { cert: string; key: string };
  /** Where the API serves: the process reads PVCs and pods through this kubeconfig. */
  kubeconfigPath: string;
  core: CoreV1Api;
  cdiNamespace: string;
  publicKeyPem: string;
  /** The node agent's socket directory (ADR 0018). */
  localSocketDir?: string;
  /** Owner-only directory for the certificates handed to the process. */
  materialDir: string;
  checkMs?: number;
  /**
   * Resolves once the controller has issued the client certificate into the CDI namespace. The
   * process is started before that and waits for the files (its module loading overlaps the
   * controller's start); without it the Secret is read before the start.
   */
  clientIssued?: Promise<unknown>;
  /** Issues the next serving certificate; called when the current one is 80% into its life. */
  renewServing?: () => Promise<{ cert: string; key: string }>;
  logger: Logger;
}

const entry = fileURLToPath(new URL('../../../uploadproxy/main.ts', import.meta.url));
const StartTimeoutMs = 60_000;
const StopGraceMs = 10_000;

/** Writes each file beside itself, then renames it in, so the process's watcher never reads half a key. */
async function writeMaterial(dir: string, files: Record<string, string>): Promise<void> {
  await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const [name, content] of Object.entries(files)) {
    const tmp = path.join(dir, `.${name}.tmp`);
    await fs.promises.writeFile(tmp, content, { mode: 0o600 });
    await fs.promises.rename(tmp, path.join(dir, name));
  }
}

const verboseLevels = new Set(['debug', 'trace']);
const levels: Record<number, 'debug' | 'info' | 'warn' | 'error'> = { 10: 'debug', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'error' };

/** The process's pino lines, re-logged through serve's logger; anything else as a warning. */
function relayLog(line: string, logger: Logger, onLine: (fields: Record<string, unknown>) => void): void {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(line) as Record<string, unknown>;
  } catch {
    if (line.trim()) logger.warn({ line }, 'upload proxy output');
    return;
  }
  onLine(fields);
  const { level, msg, time: _time, pid: _pid, hostname: _hostname, name: _name, ...rest } = fields;
  logger[levels[Number(level)] ?? 'info'](rest, typeof msg === 'string' ? msg : undefined);
}

/**
 * Runs the embedded upload proxy as its own process: the cluster entry point, under the data-path
 * Node flags (ADR 0017, 0019, 0037), so the bytes it relays neither share serve's heap nor its GC
 * settings (docs/adr/0020). Its certificates are files in `materialDir`; every `checkMs` the
 * client certificate the controller rotates in the Secret is compared and, when it changed,
 * rewritten there, and the process reloads it without dropping uploads. A process that dies is
 * started again on the same port.
 */
export async function runUploadProxy(opts: UploadProxyRunOptions): Promise<UploadProxyRunner> {
  const logger = opts.logger;
  const dirs = {
    serving: path.join(opts.materialDir, 'serving'),
    client: path.join(opts.materialDir, 'client'),
    serverCa: path.join(opts.materialDir, 'server-ca'),
  };
  await fs.promises.mkdir(opts.materialDir, { recursive: true, mode: 0o700 });
  await fs.promises.chmod(opts.materialDir, 0o700);
  await writeMaterial(dirs.serving, { 'tls.crt': opts.tls.cert, 'tls.key': opts.tls.key });
  // What an earlier run left may be outdated: the process waits for this run's material instead.
  for (const dir of [dirs.client, dirs.serverCa]) {
    await fs.promises.rm(dir, { recursive: true, force: true });
    await fs.promises.mkdir(dir, { mode: 0o700 });
  }
  const writeClient = async (m: { cert: string; key: string; ca: string }) => {
    await writeMaterial(dirs.client, { 'tls.crt': m.cert, 'tls.key': m.key });
    await writeMaterial(dirs.serverCa, { 'ca-bundle.crt': m.ca });
  };
  const issueClient = async () => {
    await opts.clientIssued;
    const material = await uploadClientTls(opts.core, opts.cdiNamespace);
    await writeClient(material);
    return material;
  };

  let port = opts.port;
  let child: ChildProcess | undefined;
  let closing = false;
  let restartTimer: NodeJS.Timeout | undefined;

  const start = async (): Promise<string> => {
    const args = [
      '--disable-warning=ExperimentalWarning',
      ...relayNodeFlags,
      entry,
      ...['--address', opts.host, '--port', String(port)],
      ...['--tls-dir', dirs.serving, '--client-cert-dir', dirs.client, '--server-ca-dir', dirs.serverCa],
      ...['--kubeconfig', opts.kubeconfigPath],
      ...(opts.localSocketDir ? ['--local-socket-dir', opts.localSocketDir] : []),
      // stdin is a pipe only serve holds: it closes when serve dies, however it dies.
      '--exit-with-stdin',
    ];
    // Under setpriv --pdeathsig the kernel kills it when serve dies, whatever state its stdin or
    // its log is in; the stdin flag stays for where util-linux is missing.
    const setpriv = await findTool('setpriv');
    const [command, argv] = setpriv ? [setpriv, ['--pdeathsig', 'KILL', '--', process.execPath, ...args]] : [process.execPath, args];
    const proc = spawn(command, argv, {
      // At least info: its "listening" line says where it is; serve's logger filters what it relays.
      env: { ...process.env, APISERVER_PUBLIC_KEY: opts.publicKeyPem, LOG_LEVEL: verboseLevels.has(process.env.LOG_LEVEL ?? '') ? process.env.LOG_LEVEL : 'info' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child = proc;
    const listening = new Promise<string>((resolve, reject) => {
      const onLine = (fields: Record<string, unknown>) => {
        if (fields.msg === 'upload proxy listening' && typeof fields.url === 'string') resolve(fields.url);
      };
      createInterface({ input: proc.stdout! }).on('line', (line) => relayLog(line, logger, onLine));
      createInterface({ input: proc.stderr! }).on('line', (line) => relayLog(line, logger, onLine));
      proc.once('error', reject);
      proc.once('exit', (code, signal) => reject(new CdiError('CDI_ERR_SERVE', [`upload proxy exited before listening (code ${code}, signal ${signal})`])));
    });
    const timeout = setTimeout(() => proc.kill('SIGKILL'), StartTimeoutMs);
    try {
      const url = await listening;
      port = Number(new URL(url).port);
      logger.info({ pid: proc.pid, url }, 'upload proxy process started');
      proc.once('exit', (code, signal) => {
        if (closing) return;
        logger.error({ code, signal }, 'upload proxy process exited; starting it again');
        restartTimer = setTimeout(() => void start().catch((err: unknown) => logger.error({ err: String(err) }, 'restarting the upload proxy failed')), 1_000);
      });
      return url;
    } finally {
      clearTimeout(timeout);
    }
  };

  let clientTls: { cert: string; key: string; ca: string };
  let url: string;
  if (opts.clientIssued) {
    const starting = start();
    starting.catch(() => undefined);
    try {
      clientTls = await issueClient();
    } catch (err) {
      child?.kill('SIGKILL');
      await starting.catch(() => undefined);
      throw err;
    }
    url = await starting;
  } else {
    clientTls = await issueClient();
    url = await start();
  }
  let checking: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    checking = checking.then(async () => {
      try {
        const next = await uploadClientTls(opts.core, opts.cdiNamespace);
        if (next.cert === clientTls.cert && next.key === clientTls.key && next.ca === clientTls.ca) return;
        await writeClient(next);
        clientTls = next;
        logger.info({}, 'upload proxy client certificate rotated; the proxy process reloads it');
      } catch (err) {
        logger.warn({ err: String(err) }, 'upload proxy certificate refresh failed');
      }
    });
  }, opts.checkMs ?? 600_000);
  timer.unref();
  const renewServing = opts.renewServing;
  const stopRenewal = renewServing
    ? keepRenewed(
        opts.tls.cert,
        async () => {
          const next = await renewServing();
          // the process watches this directory and serves the new pair to new connections
          await writeMaterial(dirs.serving, { 'tls.crt': next.cert, 'tls.key': next.key });
          return next.cert;
        },
        logger,
        'upload proxy',
      )
    : () => {};

  return {
    url,
    async close() {
      closing = true;
      clearInterval(timer);
      stopRenewal();
      clearTimeout(restartTimer);
      await checking;
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), StopGraceMs);
      await exited;
      clearTimeout(kill);
    },
  };
}
