import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:tls';

/** A real HTTP client for attacks on the API: curl, with the server's token, TLS unchecked. */
export interface CurlReply {
  code: number;
  body: string;
  json(): Record<string, unknown>;
}

export interface CurlTarget {
  url: string;
  token: string;
}

export function curl(target: CurlTarget, method: string, path: string, body?: string, contentType = 'application/json'): Promise<CurlReply> {
  const args = ['-sk', '-X', method, '-H', `Authorization: Bearer ${target.token}`, '-o', '-', '-w', '\n%{http_code}'];
  if (body !== undefined) args.push('-H', `Content-Type: ${contentType}`, '--data-binary', '@-');
  args.push(`${target.url}${path}`);
  return new Promise((resolve, reject) => {
    const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', (status) => {
      if (status !== 0) return reject(new Error(`curl exited ${status}`));
      const text = Buffer.concat(out).toString('utf8');
      const cut = text.lastIndexOf('\n');
      const reply = text.slice(0, cut);
      resolve({ code: Number(text.slice(cut + 1)), body: reply, json: () => JSON.parse(reply) as Record<string, unknown> });
    });
    child.stdin.end(body ?? '');
  });
}

/** A watch read line by line off a raw TLS socket (no client library in between). */
export async function watchLines(target: CurlTarget, path: string, onLine: (line: string) => void): Promise<{ close(): void }> {
  const { hostname, port } = new URL(target.url);
  const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${target.token}\r\n\r\n`);
  let partial = '';
  socket.setEncoding('utf8').on('data', (d: string) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop()!;
    for (const line of lines) onLine(line);
  });
  return { close: () => socket.destroy() };
}
