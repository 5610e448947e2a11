import type { OutgoingHttpHeaders } from 'node:http';

// Not `import from 'node:http'`: an ES import of node:http loads Node's own fetch (docs/adr/0032).
const { STATUS_CODES } = process.getBuiltinModule('node:http');

/**
 * The bytes of an HTTP/1.1 answer written straight to a socket by the socket-level upload paths
 * (docs/adr/0035): its own content-length and `connection: close`, since no HTTP parser reads a
 * second request on that connection. A content-length or connection header given is replaced.
 */
export function closingAnswer(status: number, headers: OutgoingHttpHeaders, body: Buffer | string = ''): Buffer {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name === 'content-length' || name === 'connection') continue;
    for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${one}`);
  }
  lines.push(`content-length: ${bytes.length}`, 'connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), bytes]);
}
