import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

const main = path.resolve(import.meta.dirname, '../../importer/main.ts');

export interface WorkerRun {
  code: number | null;
  termination: string;
  stdout: string;
}

export interface WorkerHandle {
  /** Resolves with the metrics port once the worker logged it. */
  metricsPort: Promise<number>;
  kill(signal: NodeJS.Signals): void;
  done: Promise<WorkerRun>;
}

/** Runs importer/main.ts as a child process with CDI's env contract (plus the local overrides). */
export function startWorker(env: Record<string, string>, terminationLog: string): WorkerHandle {
  const child = spawn(process.execPath, [main], {
    env: { PATH: process.env.PATH ?? '', CDI_LISTEN_PORT: '0', CDI_TERMINATION_LOG: terminationLog, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let resolvePort: (port: number) => void = () => {};
  const metricsPort = new Promise<number>((resolve) => { resolvePort = resolve; });
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    const m = /"port":(\d+),"msg":"serving metrics/.exec(stdout);
    if (m) resolvePort(Number(m[1]));
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
  const done = new Promise<WorkerRun>((resolve) => {
    child.once('exit', (code) => {
      readFile(terminationLog, 'utf8').catch(() => '').then((termination) => resolve({ code, termination, stdout }));
    });
  });
  return { metricsPort, kill: (signal) => child.kill(signal), done };
}

export async function runWorker(env: Record<string, string>, terminationLog: string): Promise<WorkerRun> {
  return startWorker(env, terminationLog).done;
}
