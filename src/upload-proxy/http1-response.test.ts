import { describe, expect, it } from 'vitest';
import { isCdiError } from '../api/errors.ts';
import { requestHead } from './forward.ts';
import { ResponseDecoder } from './http1-response.ts';

/** Feeds `bytes` in pieces of `step` and answers the first complete response and where it came. */
function feed(decoder: ResponseDecoder, bytes: string | Buffer, step: number) {
  const all = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes, 'latin1');
  for (let at = 0; at < all.length; at += step) {
    const response = decoder.push(all.subarray(at, at + step));
    if (response) return { response, fedUpTo: Math.min(at + step, all.length) };
  }
  return undefined;
}

function expectForwardError(fn: () => unknown, text: RegExp): void {
  try {
    fn();
  } catch (err) {
    expect(isCdiError(err, 'CDI_ERR_UPLOAD_FORWARD')).toBe(true);
    expect((err as Error).message).toMatch(text);
    return;
  }
  throw new Error('expected CDI_ERR_UPLOAD_FORWARD');
}

describe('ResponseDecoder (the upload server answer, read by the proxy)', () => {
  it('reads a Content-Length answer fed a byte at a time, completing on its last byte', () => {
    const wire = 'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\ncontent-length: 5\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello';
    const got = feed(new ResponseDecoder('POST'), wire, 1)!;
    expect(got.fedUpTo).toBe(wire.length);
    expect(got.response.statusCode).toBe(400);
    expect(got.response.headers).toMatchObject({ 'content-type': 'text/plain', 'x-a': ['1', '2'] });
    expect(got.response.body.toString()).toBe('hello');
  });

  it('skips interim 1xx answers', () => {
    const got = feed(new ResponseDecoder('POST'), 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok', 7)!;
    expect(got.response.statusCode).toBe(200);
    expect(got.response.body.toString()).toBe('ok');
  });

  it('decodes a chunked body with extensions and trailers, and only once it is complete', () => {
    const wire = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n';
    for (const step of [1, 5, wire.length]) {
      const got = feed(new ResponseDecoder('POST'), wire, step)!;
      expect(got.fedUpTo).toBe(wire.length);
      expect(got.response.body.toString()).toBe('abcde');
    }
    expect(feed(new ResponseDecoder('POST'), 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', 3)!.response.body.length).toBe(0);
  });

  it('has no body for HEAD, 204 and 304 whatever Content-Length says', () => {
    expect(feed(new ResponseDecoder('HEAD'), 'HTTP/1.1 200 OK\r\ncontent-length: 1234\r\nupload-offset: 99\r\n\r\n', 64)!.response).toMatchObject({
      statusCode: 200,
      headers: { 'content-length': '1234', 'upload-offset': '99' },
      body: Buffer.alloc(0),
    });
    expect(feed(new ResponseDecoder('POST'), 'HTTP/1.1 204 No Content\r\n\r\n', 64)!.response.statusCode).toBe(204);
  });

  it('takes a body without length up to the end of the connection', () => {
    const decoder = new ResponseDecoder('POST');
    expect(feed(decoder, 'HTTP/1.1 500 Internal Server Error\r\n\r\nSaving stream failed', 8)).toBeUndefined();
    expect(decoder.end()).toMatchObject({ statusCode: 500, body: Buffer.from('Saving stream failed') });
  });

  it('refuses a connection that ends before the answer is complete', () => {
    const decoder = new ResponseDecoder('POST');
    decoder.push(Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc'));
    expectForwardError(() => decoder.end(), /closed the connection before it answered/);
    expectForwardError(() => new ResponseDecoder('POST').end(), /closed the connection/);
  });

  it('refuses malformed and oversized answers with CDI_ERR_UPLOAD_FORWARD', () => {
    const cases: Array<[string | Buffer, RegExp]> = [
      ['SSH-2.0-OpenSSH\r\n\r\n', /status line/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /header line/],
      ['HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', /content-length/],
      ['HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n', /content-length/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n', /transfer-encoding/],
      [`HTTP/1.1 200 OK\r\ncontent-length: ${2 * 1024 * 1024}\r\n\r\n`, /body of 2097152 bytes/],
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', /chunk size/],
      [`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70 * 1024)}`, /header over 64 KiB/],
      [Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), Buffer.alloc(1024 * 1024 + 1)]), /body over 1 MiB/],
    ];
    for (const [wire, text] of cases) expectForwardError(() => feed(new ResponseDecoder('POST'), wire, 64 * 1024), text);
  });
});

describe('requestHead (the request the proxy writes to the upload server)', () => {
  it('writes the method, target, host and every header value, chunked when the length is unknown', () => {
    expect(requestHead('POST', '/v1beta1/upload', 'localhost', { 'content-type': 'application/octet-stream', 'x-m': ['1', '2'] }, true)).toBe(
      'POST /v1beta1/upload HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/octet-stream\r\nx-m: 1\r\nx-m: 2\r\ntransfer-encoding: chunked\r\n\r\n',
    );
  });

  it('refuses a header holding a line break (no request smuggling through a hand-written head)', () => {
    expectForwardError(() => requestHead('POST', '/v1beta1/upload', 'h', { 'x-a': 'ok\r\nx-b: evil' }, false), /line break/);
  });
});
