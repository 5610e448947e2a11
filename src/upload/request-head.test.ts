import { describe, expect, it } from 'vitest';
import { contentLength, headEnd, parseRequestHead } from './request-head.ts';

const head = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('parseRequestHead', () => {
  it('reads the request line and headers, lower-casing names and keeping repeats', () => {
    const bytes = head('POST /v1beta1/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\nX-A: 1\r\nx-a:  2 \r\n\r\nbody');
    const parsed = parseRequestHead(bytes)!;
    expect(parsed.method).toBe('POST');
    expect(parsed.target).toBe('/v1beta1/upload');
    expect(parsed.headers.get('x-a')).toEqual(['1', '2']);
    expect(contentLength(parsed)).toBe(12);
    expect(bytes.subarray(parsed.length).toString()).toBe('body');
  });

  it('waits for the blank line', () => {
    expect(headEnd(head('POST / HTTP/1.1\r\nHost: x\r\n'))).toBe(-1);
    expect(parseRequestHead(head('POST / HTTP/1.1\r\nHost: x\r\n'))).toBeUndefined();
  });

  it.each([
    ['a bare LF inside', 'POST / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n'],
    ['an obsolete fold', 'POST / HTTP/1.1\r\nX: a\r\n b\r\n\r\n'],
    ['HTTP/1.0', 'POST / HTTP/1.0\r\n\r\n'],
    ['an absolute target', 'POST http://a/ HTTP/1.1\r\n\r\n'],
    ['a space before the colon', 'POST / HTTP/1.1\r\nHost : x\r\n\r\n'],
    ['a control character in a value', 'POST / HTTP/1.1\r\nX: a\x01b\r\n\r\n'],
    ['a lower-case method', 'post / HTTP/1.1\r\n\r\n'],
  ])('leaves %s to the HTTP server', (_what, text) => {
    expect(parseRequestHead(head(text))).toBeUndefined();
  });

  it.each([
    ['repeated', 'Content-Length: 5\r\nContent-Length: 5'],
    ['signed', 'Content-Length: +5'],
    ['a list', 'Content-Length: 5, 5'],
    ['absent', 'X: 1'],
  ])('has no body length when Content-Length is %s', (_what, lines) => {
    expect(contentLength(parseRequestHead(head(`POST / HTTP/1.1\r\n${lines}\r\n\r\n`))!)).toBeUndefined();
  });
});
