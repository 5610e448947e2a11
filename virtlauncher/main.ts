/**
 * virt-launcher's compute container: runs one VirtualMachineInstance's guest under QEMU
 * (src/vm/launcher.ts) and exits with the guest: 0 when it powered off.
 */
import fs from 'node:fs';
import { LauncherEnv } from '../src/api/env.ts';
import { createLogger } from '../src/log.ts';
import { LaunchError, readLauncherConfig, runLauncher } from '../src/vm/launcher.ts';

// First of all: the guest-console-log container follows the console file, which exists from now
// on, until this process is gone.
const consoleLog = process.env[LauncherEnv.consoleLog];
if (consoleLog) {
  fs.writeFileSync(consoleLog, '', { flag: 'a' });
  fs.writeFileSync(`${consoleLog}.pid`, String(process.pid));
}

const logger = createLogger('virt-launcher');
let terminationLog: string | undefined;
try {
  const config = readLauncherConfig(process.env);
  terminationLog = config.terminationLog;
  process.exitCode = await runLauncher(config, logger);
} catch (err) {
  const message = err instanceof LaunchError ? err.message : `launcher failed: ${String(err)}`;
  logger.error({ err: String(err) }, message);
  if (terminationLog) fs.writeFileSync(terminationLog, message);
  process.exitCode = 1;
}
