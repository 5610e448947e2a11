import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Where generated fixtures are cached between runs (not committed). */
export const fixtureCache = path.resolve(import.meta.dirname, '../../.cache/fixtures');

export async function cacheDir(...parts: string[]): Promise<string> {
  const dir = path.join(fixtureCache, ...parts);
  await mkdir(dir, { recursive: true });
  return dir;
}

export async function qemuImg(...args: string[]): Promise<string> {
  const { stdout } = await run('qemu-img', args, { maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export async function qemuIo(image: string, format: string, ...commands: string[]): Promise<void> {
  const args = ['-f', format];
  for (const c of commands) args.push('-c', c);
  await run('qemu-io', [...args, image]);
}

/** The reference conversion every test compares against. */
export async function qemuConvertToRaw(input: string, output: string): Promise<void> {
  await qemuImg('convert', '-O', 'raw', input, output);
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
