/**
 * virt-launcher's guest-console-log container: streams the guest's serial console to this
 * container's log (src/vm/console-log.ts).
 */
import { LauncherEnv } from '../src/api/env.ts';
import { followConsole } from '../src/vm/console-log.ts';

const file = process.env[LauncherEnv.consoleLog];
if (!file) {
  process.stderr.write(`${LauncherEnv.consoleLog} is not set: this runs only in a virt-launcher pod\n`);
  process.exit(2);
}
const stop = new AbortController();
process.once('SIGTERM', () => stop.abort());
process.once('SIGINT', () => stop.abort());
await followConsole(file, process.stdout, stop.signal);
