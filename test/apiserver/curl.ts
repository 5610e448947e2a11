import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/**
 * curl as a plain HTTP client of the API server, for what a typed client hides: exact status
 * codes, response headers (Warning, ETag, Content-Type) and raw bodies.
 */
export interface ApiEndpoint {
  url: string;
  caPem: string;
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
    await writeFile(ca, api.caPem);
    const args = ['-sS', '--cacert', ca, '-H', `Authorization: Bearer ${api.token}`, '-X', method, '-D', path.join(dir, 'headers'), '-o', path.join(dir, 'body'), '-w', '%{http_code}'];
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
