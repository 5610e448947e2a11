/**
 * src/worker/main.ts and shutdown.ts in real worker processes: the exit code each failure maps
 * to, the termination message it leaves, and that the process ends whatever handles are open.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../format/helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');
const main = path.join(root, 'src/worker/main.ts');
const shutdown = path.join(root, 'src/worker/shutdown.ts');
const errors = path.join(root, 'src/api/errors.ts');

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

interface Exit {
  code: number | null;
  stdout: string;
  termination: string | undefined;
}

/** Runs `body` (the text of an async function of the worker context) as a worker's main. */
function worker(name: string, body: string, onStdout?: (text: string, kill: (signal: NodeJS.Signals) => void) => void): Promise<Exit> {
  const terminationLog = path.join(dir, `${name}.termination`);
  const script = [
    `import { runWorker, WorkerFailure } from ${JSON.stringify(main)};`,
    `import { onShutdown } from ${JSON.stringify(shutdown)};`,
    `import { CdiError } from ${JSON.stringify(errors)};`,
    `setInterval(() => {}, 60_000); // an open handle: the worker must exit anyway`,
    `await runWorker('test-worker', ${body});`,
  ].join('\n');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      env: { PATH: process.env.PATH ?? '', CDI_TERMINATION_LOG: terminationLog },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      onStdout?.(stdout, (signal) => child.kill(signal));
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      void readFile(terminationLog, 'utf8').then((t) => t, () => undefined).then((termination) => resolve({ code, stdout, termination }));
    });
  });
}

const logLines = (stdout: string): Array<Record<string, unknown>> => stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('runWorker', () => {
  it('exits with the code the body returns, whatever handles are open', async () => {
    const r = await worker('ok', `async ({ terminationLog }) => { await import('node:fs/promises').then((fs) => fs.writeFile(terminationLog, 'done')); return 0; }`);
    expect(r).toMatchObject({ code: 0, termination: 'done' });
  });

  it('maps a coded error to its exit code, logs its code and leaves its message', async () => {
    const r = await worker('coded', `async () => { throw new CdiError('CDI_ERR_CLONE_STATUS', [401, ': denied']); }`);
    expect(r.code).toBe(1);
    expect(r.termination).toBe('Unexpected status code 401: denied');
    expect(logLines(r.stdout)).toContainEqual(expect.objectContaining({ name: 'test-worker', code: 'CDI_ERR_CLONE_STATUS', msg: 'Unexpected status code 401: denied' }));
    const usage = await worker('usage', `async () => { throw new CdiError('CDI_ERR_USAGE', ['bad flag']); }`);
    expect(usage).toMatchObject({ code: 64, termination: 'bad flag' });
  });

  it('codes anything else as an internal error, on one line', async () => {
    const r = await worker('plain', `async () => { throw new Error('first\\nsecond'); }`);
    expect(r).toMatchObject({ code: 1, termination: 'internal error: first second' });
  });

  it("writes a WorkerFailure's own text and exit code", async () => {
    const r = await worker('failure', `async () => { throw new WorkerFailure(new CdiError('CDI_ERR_TARGET', ['/x', 'gone']), 'Unable to process data: cannot write target /x: gone (stage: Info, 0 bytes done)', 1); }`);
    expect(r).toMatchObject({ code: 1, termination: 'Unable to process data: cannot write target /x: gone (stage: Info, 0 bytes done)' });
    expect(logLines(r.stdout)).toContainEqual(expect.objectContaining({ code: 'CDI_ERR_TARGET' }));
  });
});

describe('onShutdown', () => {
  const waiting = `async ({ logger }) => {
    onShutdown(logger, async (signal) => { logger.info({ closed: signal }, 'closed'); }, { exitCode: 3 });
    logger.info({}, 'ready');
    return new Promise(() => {});
  }`;

  it.each(['SIGTERM', 'SIGINT'] as const)('runs close on %s and exits with the caller\'s code', async (signal) => {
    let sent = false;
    const r = await worker(`signal-${signal}`, waiting, (stdout, kill) => {
      if (!sent && stdout.includes('"msg":"ready"')) {
        sent = true;
        kill(signal);
      }
    });
    expect(r.code).toBe(3);
    expect(logLines(r.stdout)).toContainEqual(expect.objectContaining({ closed: signal, msg: 'closed' }));
  });

  it('cuts off a close that hangs after the grace period, with exit 1', async () => {
    let sent = false;
    const r = await worker('hang', `async ({ logger }) => {
      onShutdown(logger, () => new Promise(() => {}), { exitCode: 0, graceMs: 50 });
      logger.info({}, 'ready');
      return new Promise(() => {});
    }`, (stdout, kill) => {
      if (!sent && stdout.includes('"msg":"ready"')) {
        sent = true;
        kill('SIGTERM');
      }
    });
    expect(r.code).toBe(1);
    expect(logLines(r.stdout)).toContainEqual(expect.objectContaining({ graceMs: 50, msg: 'shutdown did not finish in time' }));
  });
});
