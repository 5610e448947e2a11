/**
 * xz decompression through the `xz -dc -T0` tool: every Node xz decoder runs at about 60% of
 * single-threaded xz, and only the tool decodes multi-block files on several cores
 * (docs/adr/0002). Input is written with backpressure; the child is killed when the consumer
 * stops early (a bomb stopped at capacity, an abort, an error downstream).
 *
 * The tool writes into a FIFO we read with blocking reads into pooled chunks: a child's stdout
 * pipe in Node hands out a fresh 64 KiB buffer per read, garbage enough to lift the peak RSS by
 * ~40 MiB on a 2 GiB image (ADR 0017).
 */
import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { CdiError } from '../api/errors.ts';
import { readDescriptor } from './file-input.ts';

const run = promisify(execFile);

/**
 * The most memory xz may use to decode one image. Every preset decodes within it (`xz -9`, the
 * largest, has a 64 MiB dictionary and needs 65 MiB; multi-threaded decoding takes fewer threads
 * to stay under it); a stream that asks for more (a few hundred bytes can declare a 1.5 GiB
 * dictionary) is refused instead of costing a worker that much memory.
 */
export const XzMemoryLimitMiB = 256;

/** A FIFO in a private directory, opened at both ends (each open waits for the other). */
async function outputFifo(): Promise<{ reader: FileHandle; writer: FileHandle; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-xz-'));
  const remove = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    const fifo = path.join(dir, 'out');
    await run('mkfifo', ['-m', '600', fifo]);
    const [reader, writer] = await Promise.all([open(fifo, fsConstants.O_RDONLY), open(fifo, fsConstants.O_WRONLY)]);
    return { reader, writer, remove };
  } catch (err) {
    await remove();
    throw new CdiError('CDI_ERR_DECOMPRESS', ['xz', `cannot make the output pipe: ${(err as Error).message}`], { cause: err });
  }
}

export async function* xzDecompress(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const fifo = await outputFifo();
  let child;
  try {
    child = spawn('xz', ['-dc', '-T0', `--memlimit-decompress=${XzMemoryLimitMiB}MiB`], { stdio: ['pipe', fifo.writer.fd, 'pipe'], signal });
  } catch (err) {
    await Promise.all([fifo.writer.close(), fifo.reader.close()]);
    await fifo.remove();
    throw err;
  }
  // the child has its own copy; ours must go so the reader sees the end when xz exits
  await fifo.writer.close();
  const stdin = child.stdin!;
  const stderrStream = child.stderr!;
  let stderr = '';
  stderrStream.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  stdin.on('error', () => {}); // EPIPE when xz stops early; its exit status tells why
  let feedError: unknown;
  const feeding = feed(source, stdin).catch((err: unknown) => {
    feedError = err;
    child.kill('SIGKILL');
  });
  let completed = false;
  try {
    yield* readDescriptor(fifo.reader.fd);
    const { code, error } = await exited;
    await feeding;
    if (feedError !== undefined) throw feedError;
    if (error !== undefined) throw new CdiError('CDI_ERR_DECOMPRESS', ['xz', error.message], { cause: error });
    if (code !== 0) throw xzError(stderr);
    completed = true;
  } finally {
    if (!completed) child.kill('SIGKILL');
    await exited;
    await fifo.reader.close();
    await fifo.remove();
  }
}

async function feed(source: AsyncIterable<Uint8Array>, stdin: Writable): Promise<void> {
  for await (const chunk of source) {
    if (stdin.destroyed || stdin.writableEnded) return;
    if (!stdin.write(chunk)) await drained(stdin);
  }
  stdin.end();
}

function drained(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

function xzError(stderr: string): CdiError {
  const text = stderr.replace(/^xz: \(stdin\): /gm, '').trim() || 'xz failed';
  if (/unexpected end of input/i.test(text)) return new CdiError('CDI_ERR_TRUNCATED', ['xz stream ended early']);
  if (/memory usage limit reached/i.test(text)) return new CdiError('CDI_ERR_DECOMPRESS_MEMORY', ['xz', `${XzMemoryLimitMiB} MiB`]);
  return new CdiError('CDI_ERR_DECOMPRESS', ['xz', text]);
}
