import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:tls';

/** A real HTTP client for attacks on the API: curl, with the server's token, TLS unchecked (curlApi's short form). */
export interface CurlReply {
  code: number;
  body: string;
  json(): Record<string, unknown>;
}

export interface CurlTarget {
  url: string;
  token: string;
}

export async function curl(target: CurlTarget, method: string, path: string, body?: string, contentType = 'application/json'): Promise<CurlReply> {
  const reply = await curlApi(target, method, path, body === undefined ? {} : { body, contentType });
  const text = reply.body.toString('utf8');
  return { code: reply.status, body: text, json: () => JSON.parse(text) as Record<string, unknown> };
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

/**
 * curl as a plain HTTP client of the API server, for what a typed client hides: exact status
 * codes, response headers (Warning, ETag, Content-Type) and raw bodies.
 */
export interface ApiEndpoint {
  url: string;
  /** The server's CA; without it the server's certificate goes unchecked (curl -k). */
  caPem?: string;
  token: string;
}

export interface CurlResult {
  status: number;
  /** Lower-case header names; repeated headers keep every value. */
  headers: Record<string, string[]>;
  body: Buffer;
  json(): Record<string, unknown>;
}

export interface CurlOptions {
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

function parseHeaders(text: string): Record<string, string[]> {
  // With redirects not followed there is one header block; keep the last to be safe.
  const blocks = text.trim().split(/\r?\n\r?\n/);
  const out: Record<string, string[]> = {};
  for (const line of (blocks.at(-1) ?? '').split(/\r?\n/).slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    (out[name] ??= []).push(line.slice(i + 1).trim());
  }
  return out;
}

export async function curlApi(api: ApiEndpoint, method: string, urlPath: string, opts: CurlOptions = {}): Promise<CurlResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'cdi-curl-'));
  try {
    const ca = path.join(dir, 'ca.pem');
    if (api.caPem !== undefined) await writeFile(ca, api.caPem);
    const tls = api.caPem === undefined ? ['-k'] : ['--cacert', ca];
    const args = ['-sS', ...tls, '-H', `Authorization: Bearer ${api.token}`, '-X', method, '-D', path.join(dir, 'headers'), '-o', path.join(dir, 'body'), '-w', '%{http_code}'];
    for (const [k, v] of Object.entries(opts.headers ?? {})) args.push('-H', `${k}: ${v}`);
    let input: string | undefined;
    if (opts.body !== undefined) {
      input = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      args.push('-H', `Content-Type: ${opts.contentType ?? 'application/json'}`, '--data-binary', '@-');
    }
    args.push(`${api.url}${urlPath}`);
    const code = await new Promise<string>((resolve, reject) => {
      const child = spawn('curl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      child.on('error', reject);
      child.on('close', (c) => (c === 0 ? resolve(out) : reject(new Error(`curl exited ${c}: ${err}`))));
      child.stdin.end(input ?? '');
    });
    const body = await readFile(path.join(dir, 'body')).catch(() => Buffer.alloc(0));
    const headers = parseHeaders(await readFile(path.join(dir, 'headers'), 'utf8'));
    return { status: Number(code), headers, body, json: () => JSON.parse(body.toString('utf8')) as Record<string, unknown> };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
