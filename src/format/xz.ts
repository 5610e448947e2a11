/**
 * xz decompression through the `xz -dc -T0` tool: every Node xz decoder runs at about 60% of
 * single-threaded xz, and only the tool decodes multi-block files on several cores
 * (docs/adr/0002). Input is written with backpressure; the child is killed when the consumer
 * stops early (a bomb stopped at capacity, an abort, an error downstream).
 */
import { spawn } from 'node:child_process';
import type { Writable } from 'node:stream';
import { CdiError } from '../api/errors.ts';

export async function* xzDecompress(source: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const child = spawn('xz', ['-dc', '-T0'], { stdio: ['pipe', 'pipe', 'pipe'], signal });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  child.stdin.on('error', () => {}); // EPIPE when xz stops early; its exit status tells why
  let feedError: unknown;
  const feeding = feed(source, child.stdin).catch((err: unknown) => {
    feedError = err;
    child.kill('SIGKILL');
  });
  let completed = false;
  try {
    for await (const chunk of child.stdout) yield chunk as Buffer;
    const { code, error } = await exited;
    await feeding;
    if (feedError !== undefined) throw feedError;
    if (error !== undefined) throw new CdiError('CDI_ERR_DECOMPRESS', ['xz', error.message], { cause: error });
    if (code !== 0) throw xzError(stderr);
    completed = true;
  } finally {
    if (!completed) child.kill('SIGKILL');
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
  return new CdiError('CDI_ERR_DECOMPRESS', ['xz', text]);
}
