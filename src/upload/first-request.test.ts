import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { interceptFirstRequests, type ClaimFirstRequest } from './first-request.ts';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve) ?? resolve(undefined));
  server = undefined;
});

async function start(claim: ClaimFirstRequest, headTimeoutMs = 5_000): Promise<{ port: number; onError: ReturnType<typeof vi.fn> }> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += String(d)));
    req.on('end', () => res.end(`http server: ${req.method} ${req.url} ${body}`));
  });
  const onError = vi.fn();
  interceptFirstRequests(server, 'connection', claim, { headTimeoutMs, onError });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { port: (server.address() as AddressInfo).port, onError };
}

async function exchange(port: number, bytes: string, endAfter = true): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  if (endAfter) socket.end(bytes);
  else socket.write(bytes);
  let answer = '';
  for await (const chunk of socket) answer += String(chunk);
  return answer;
}

describe('interceptFirstRequests', () => {
  it('hands what the claim leaves to the HTTP server with every byte put back', async () => {
    const seen: string[] = [];
    const { port } = await start(async ({ head }) => {
      seen.push(`${head.method} ${head.target}`);
      return false;
    });
    const answer = await exchange(port, 'POST /left HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    expect(answer).toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).toContain('http server: POST /left hello');
    expect(seen).toEqual(['POST /left']);
  });

  it('lets a claim take the socket, the start of the body included', async () => {
    const { port } = await start(async ({ socket, rest }) => {
      socket.end(`HTTP/1.1 200 OK\r\ncontent-length: ${rest.length}\r\nconnection: close\r\n\r\n${String(rest)}`);
      return true;
    });
    const answer = await exchange(port, 'POST /taken HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nabc$/);
  });

  it('leaves a malformed head to Node\'s parser (400) and never offers it to the claim', async () => {
    const claim = vi.fn(async () => true);
    const { port } = await start(claim);
    expect(await exchange(port, 'POST / HTTP/1.1\r\nHost: x\nX: y\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 /);
    expect(claim).not.toHaveBeenCalled();
  });

  it('answers 408 to a head that does not complete in time', async () => {
    const { port } = await start(async () => true, 200);
    expect(await exchange(port, 'POST / HTTP/1.1\r\nHost', false)).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a connection that ends before its head is complete, with nothing unhandled', async () => {
    const { port, onError } = await start(async () => true, 200);
    expect(await exchange(port, 'POST / HTTP/1.1\r\nHost')).toBe('');
    expect(onError).not.toHaveBeenCalled();
  });

  it('destroys the connection when the claim throws, and reports it', async () => {
    const { port, onError } = await start(async () => {
      throw new Error('broken claim');
    });
    expect(await exchange(port, 'POST / HTTP/1.1\r\nHost: x\r\n\r\n')).toBe('');
    expect(onError).toHaveBeenCalledWith(new Error('broken claim'));
  });
});
