/**
 * `cdi serve` on a real terminal (a pty from util-linux `script`): readable log lines, not
 * JSON, and the ready banner after the ready log line (docs/adr/0026).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { cdiBin, serveArgs } from '../support/serve.ts';

let dataDir: string | undefined;
afterAll(async () => {
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('prints readable log lines and then the ready banner on a terminal', async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cdi-tty-'));
  // startServe's command line, run under a pty (util-linux script) instead of with piped stderr.
  const command = `exec ${[cdiBin, ...serveArgs(dataDir)].map((a) => `'${a}'`).join(' ')}`;
  const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', LOG_LEVEL: 'info' } });
  let screen = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (screen += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    await vi.waitFor(() => expect(screen).toContain('kubectl get datavolumes'), { timeout: 90_000, interval: 100 });
    const lines = screen.split(/\r?\n/);
    expect(lines.filter((l) => l.startsWith('{'))).toEqual([]);
    const ready = lines.findIndex((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO {2}cdi-serve: cdi serve is ready api=https:\/\/127\.0\.0\.1:\d+ /.test(l));
    expect(ready).toBeGreaterThanOrEqual(0);
    expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO {2}apiserver: /.test(l))).toBe(true);
    expect(lines.findIndex((l) => l === 'cdi serve is ready.')).toBeGreaterThan(ready);
  } finally {
    child.stdin.write('\u0003');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  expect(screen).toMatch(/INFO {2}cdi-serve: cdi serve stopped/);
}, 150_000);
