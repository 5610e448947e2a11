/** Shared pieces of the format engine's end-to-end tests. */
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { convert, openFileInput, type ConvertOptions, type ConvertResult, type ConvertTarget } from '../../src/format/index.ts';
import { CdiError } from '../../src/api/errors.ts';

export type Feed = 'file' | 'pipe' | 'bytes-1' | 'bytes-7' | 'bytes-random';

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-format-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs the engine on a file, either with random access or as a stream cut into chunks. */
export async function convertWith(
  feed: Feed,
  file: string,
  target: ConvertTarget,
  options: Partial<ConvertOptions> = {},
): Promise<ConvertResult> {
  const opts: ConvertOptions = { contentType: 'kubevirt', ...options };
  if (feed === 'file') {
    const input = await openFileInput(file);
    try {
      return await convert({ kind: 'random', input }, target, opts);
    } finally {
      await input.close();
    }
  }
  // Pipe mode announces the length, as an HTTP body or an upload does.
  if (feed === 'pipe') return convert({ kind: 'stream', stream: createReadStream(file), size: (await stat(file)).size }, target, opts);
  const bytes = await readFile(file);
  return convert({ kind: 'stream', stream: chunked(bytes, feed) }, target, opts);
}

async function* chunked(bytes: Uint8Array, feed: Feed): AsyncGenerator<Uint8Array> {
  let seed = 12345;
  const next = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return 1 + (seed % 70_000);
  };
  for (let at = 0; at < bytes.byteLength;) {
    const size = feed === 'bytes-1' ? 1 : feed === 'bytes-7' ? 7 : next();
    yield bytes.subarray(at, at + size);
    at += size;
  }
}

/** The error a promise rejects with, asserted to be coded. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof CdiError) return err.code;
    throw err;
  }
  throw new Error('expected a coded error, the call succeeded');
}

export async function allocatedBytes(file: string): Promise<number> {
  return (await stat(file)).blocks * 512;
}

export async function exists(file: string): Promise<boolean> {
  return stat(file).then(() => true, () => false);
}
