import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileRange } from './proxy-client.ts';

/** Copies what it is given only when it calls back, later: a buffer reused too early would show. */
function slowSink(): { out: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const out = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, done) {
      setImmediate(() => {
        parts.push(Buffer.from(chunk));
        done();
      });
    },
  });
  return { out, bytes: () => Buffer.concat(parts) };
}

describe('writeFileRange', () => {
  let dir: string;
  let file: string;
  const content = randomBytes(5 * 1024 * 1024 + 12345);

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'proxy-client-'));
    file = path.join(dir, 'image');
    await writeFile(file, content);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('writes exactly the range through its reused buffers and reports the offsets reached', async () => {
    const { out, bytes } = slowSink();
    const offsets: number[] = [];
    const start = 777;
    await writeFileRange(out, { path: file, start, end: content.length, onSent: (o) => offsets.push(o) }, new AbortController().signal);
    expect(bytes().equals(content.subarray(start))).toBe(true);
    expect(offsets.at(-1)).toBe(content.length);
    expect(offsets.length).toBe(Math.ceil((content.length - start) / (1 << 20)));
  });

  it('stops sending when aborted', async () => {
    const { out, bytes } = slowSink();
    const stop = new AbortController();
    await writeFileRange(out, { path: file, start: 0, end: content.length, onSent: (o) => o >= 2 << 20 && stop.abort() }, stop.signal);
    expect(bytes().length).toBeLessThan(content.length);
    expect(bytes().equals(content.subarray(0, bytes().length))).toBe(true);
  });

  it('fails when the file is shorter than the range', async () => {
    const { out } = slowSink();
    await expect(writeFileRange(out, { path: file, start: 0, end: content.length + 10 }, new AbortController().signal)).rejects.toThrow(/ended at byte/);
  });
});
