import { describe, expect, it } from 'vitest';
import { closingAnswer } from './closing-answer.ts';

describe('closingAnswer', () => {
  it('writes the status line, every header value, its own length and connection: close', () => {
    const bytes = closingAnswer(503, { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'], 'content-length': '99', connection: 'keep-alive' }, 'busy ü');
    expect(bytes.toString('utf8')).toBe(
      'HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\nset-cookie: a=1\r\nset-cookie: b=2\r\ncontent-length: 7\r\nconnection: close\r\n\r\nbusy ü',
    );
  });

  it('answers an empty body with content-length 0', () => {
    expect(closingAnswer(200, {}).toString('latin1')).toBe('HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
  });
});
