import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient } from '../../src/sources/http/client.ts';
import { RangeReader } from '../../src/sources/http/range-reader.ts';
import { HttpRangeInput } from '../../src/sources/http/ranges.ts';
import { ByteMeter } from '../../src/sources/meter.ts';

/**
 * The bulk range path (its own socket, 1 MiB reads into the caller's buffers): bytes exact
 * through a slow consumer (the socket pauses), a 206 it does not read itself (chunked) is
 * read through undici instead, and a dropped body resumes from the last byte.
 */
const data = randomBytes(5 << 20);
const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
let server: http.Server;
let base: string;
const seen: Array<{ path: string; range: string | undefined; connection: string | undefined }> = [];
let dropsLeft = 2;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', range: req.headers.range, connection: req.headers.connection });
    const m = /^bytes=(\d+)-(\d+)?$/.exec(req.headers.range ?? '');
    const first = m ? Number(m[1]) : 0;
    const last = m?.[2] !== undefined ? Number(m[2]) : data.length - 1;
    const body = data.subarray(first, last + 1);
    const head: http.OutgoingHttpHeaders = { 'content-range': `bytes ${first}-${last}/${data.length}`, etag: '"v1"' };
    if (req.url !== '/chunked') head['content-length'] = body.length;
    res.writeHead(206, head);
    if (req.url === '/flaky' && dropsLeft > 0) {
      dropsLeft--;
      res.write(body.subarray(0, 1 << 20), () => res.destroy());
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function readAll(route: string, start: number, end: number, pieces: number, pauseMs = 0): Promise<{ bytes: Buffer; meter: ByteMeter }> {
  const client = await HttpClient.create({});
  const meter = new ByteMeter(data.length);
  const resource = { url: new URL(`${base}${route}`), size: data.length, validator: '"v1"' };
  const reader = new RangeReader(client, resource, start, end, meter);
  const out = Buffer.alloc(end - start);
  const step = Math.ceil(out.length / pieces);
  try {
    for (let at = 0; at < out.length; at += step) {
      await reader.fill(out.subarray(at, Math.min(out.length, at + step)));
      if (pauseMs) await sleep(pauseMs);
    }
  } finally {
    reader.close();
    await client.close();
  }
  return { bytes: out, meter };
}

describe('RangeReader', () => {
  it('reads a range exactly over its own socket, pausing while the consumer is slow', async () => {
    seen.length = 0;
    const { bytes, meter } = await readAll('/plain', 12345, data.length - 7, 40, 5);
    expect(digest(bytes)).toBe(digest(data.subarray(12345, data.length - 7)));
    expect(meter.done).toBe(bytes.length);
    expect(seen).toEqual([{ path: '/plain', range: `bytes=12345-${data.length - 8}`, connection: 'close' }]);
  });

  it('reads a chunked 206 through undici instead', async () => {
    seen.length = 0;
    const { bytes } = await readAll('/chunked', 0, data.length, 3);
    expect(digest(bytes)).toBe(digest(data));
    expect(seen.length).toBe(2);
    expect(seen[1]!.connection).not.toBe('close');
  });

  it('resumes a dropped body from the last byte with If-Range', async () => {
    seen.length = 0;
    const { bytes, meter } = await readAll('/flaky', 0, data.length, 1);
    expect(digest(bytes)).toBe(digest(data));
    expect(meter.done).toBe(data.length);
    expect(seen.map((s) => s.range)).toEqual([`bytes=0-${data.length - 1}`, `bytes=${1 << 20}-${data.length - 1}`, `bytes=${2 << 20}-${data.length - 1}`]);
  });

  it('hands data runs out in pooled buffers (readLeased) that are reused only after release', async () => {
    const client = await HttpClient.create({});
    const input = new HttpRangeInput(client, { url: new URL(`${base}/plain`), size: data.length, validator: '"v1"' }, new ByteMeter(data.length));
    try {
      const first = await input.readLeased(0, 2 << 20);
      expect(first.lease).toBeDefined();
      const held = await input.readLeased(2 << 20, 1 << 20);
      expect(digest(first.bytes)).toBe(digest(data.subarray(0, 2 << 20)));
      first.lease!.release();
      const next = await input.readLeased(3 << 20, 2 << 20);
      // the held buffer was not handed out again, and kept its bytes
      expect(digest(held.bytes)).toBe(digest(data.subarray(2 << 20, 3 << 20)));
      expect(digest(next.bytes)).toBe(digest(data.subarray(3 << 20, 5 << 20)));
      expect(next.bytes.buffer).toBe(first.bytes.buffer);
    } finally {
      input.close();
      await client.close();
    }
  });
});
