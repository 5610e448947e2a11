import { spawn } from 'node:child_process';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LauncherImage } from '../../src/api/images.ts';

/**
 * The guest-console-log container's entry as the node agent runs it (/bin/sh, the env contract):
 * it streams the console file until the launcher whose pid sits beside it is gone, and loses
 * nothing written just before that.
 */
const script = path.resolve(import.meta.dirname, '../..', LauncherImage.entries['guest-console-log']);
let dir: string;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function follow(file: string): { output: Promise<{ code: number | null; stdout: string }> } {
  const child = spawn('/bin/sh', [script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', VIRT_LAUNCHER_CONSOLE_LOG: file }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  return { output: new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout }))) };
}

describe('guest-console-log (virtlauncher/console-log.sh)', () => {
  it('copies the console while the launcher lives and everything written before it exited, then exits 0', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-console-'));
    const file = path.join(dir, 'console.log');
    await writeFile(file, 'SeaBIOS\n');
    // A stand-in launcher: a process that writes the last lines and exits once told to.
    const launcher = spawn('/bin/sh', ['-c', 'read line; printf "last line\\n" >> "$0"', file], { stdio: ['pipe', 'ignore', 'ignore'] });
    const running = follow(file);
    await writeFile(`${file}.pid`, String(launcher.pid));
    await appendFile(file, 'kernel\n');
    launcher.stdin.end('go\n');
    const { code, stdout } = await running.output;
    expect(code).toBe(0);
    expect(stdout).toBe('SeaBIOS\nkernel\nlast line\n');
  });

  it('refuses to run outside a launcher pod', async () => {
    const child = spawn('/bin/sh', [script], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toContain('VIRT_LAUNCHER_CONSOLE_LOG is not set');
  });
});
