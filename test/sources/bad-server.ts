import { open } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

/**
 * A misbehaving HTTP server for the importer's error paths, serving files from `root` under
 * route prefixes:
 *   /ok/F            honours Range, strong ETag           /head-forbidden/F  HEAD → 403, GET fine
 *   /no-ranges/F     200 only, no Accept-Ranges            /wrong-length/F    Content-Length too big
 *   /flaky/F         Range; the first `drops` bodies are cut after `dropAfter` bytes
 *   /flaky-no-ranges/F  no Range, bodies always cut        /changed/F         like flaky, new ETag after a drop
 *   /slow/F          trickles 64 KiB every 20 ms           /stall/F           64 KiB, then silence
 *   /auth/F          basic auth (tester:s3cret)            /auth-redirect/F   auth, then 302 to /auth/F
 *   /redirect/F      302 to /ok/F   /loop  redirects to itself   /404   /500
 */
export interface BadServer {
  url: string;
  /** Requests seen per route prefix (tests read it to prove resumes used Range). */
  requests: Array<{ route: string; range: string | undefined }>;
  stop(): Promise<void>;
}

const basic = `Basic ${Buffer.from('tester:s3cret').toString('base64')}`;

export async function startBadServer(root: string, options: { drops?: number; dropAfter?: number } = {}): Promise<BadServer> {
  const requests: BadServer['requests'] = [];
  const dropsLeft = new Map<string, number>();
  const drops = options.drops ?? 3;
  const dropAfter = options.dropAfter ?? 1 << 20;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [, route = '', ...rest] = url.pathname.split('/');
    const file = rest.join('/');
    requests.push({ route, range: req.headers.range });
    const serve = (opts: ServeOptions): void => {
      serveFile(req, res, path.join(root, file), opts).catch(() => res.destroy());
    };
    switch (route) {
      case 'ok': return serve({ ranges: true });
      case 'head-forbidden':
        if (req.method === 'HEAD') { res.writeHead(403).end(); return; }
        return serve({ ranges: true });
      case 'no-ranges': return serve({ ranges: false });
      case 'wrong-length': return serve({ ranges: false, lengthDelta: 4096 });
      case 'flaky':
      case 'changed':
      case 'flaky-no-ranges': {
        const key = `${route}/${file}`;
        const left = dropsLeft.get(key) ?? (route === 'flaky-no-ranges' ? Infinity : drops);
        const drop = left > 0 && req.method === 'GET';
        if (drop) dropsLeft.set(key, left - 1);
        const etagSuffix = route === 'changed' && left < drops ? '-v2' : '';
        return serve({ ranges: route !== 'flaky-no-ranges', ...(drop ? { cutAfter: dropAfter } : {}), etagSuffix });
      }
      case 'slow': return serve({ ranges: false, trickleMs: 20 });
      case 'stall': return serve({ ranges: false, cutAfter: 64 << 10, stall: true });
      case 'auth':
        if (req.headers.authorization !== basic) { res.writeHead(401, { 'www-authenticate': 'Basic realm="x"' }).end(); return; }
        return serve({ ranges: true });
      case 'auth-redirect':
        if (req.headers.authorization !== basic) { res.writeHead(401).end(); return; }
        res.writeHead(302, { location: `/auth/${file}` }).end();
        return;
      case 'redirect': res.writeHead(302, { location: `/ok/${file}` }).end(); return;
      case 'loop': res.writeHead(302, { location: '/loop' }).end(); return;
      case '500': res.writeHead(500).end('boom'); return;
      default: res.writeHead(404).end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

interface ServeOptions {
  ranges: boolean;
  lengthDelta?: number;
  cutAfter?: number;
  etagSuffix?: string;
  trickleMs?: number;
  stall?: boolean;
}

async function serveFile(req: http.IncomingMessage, res: http.ServerResponse, file: string, opts: ServeOptions): Promise<void> {
  const fh = await open(file).catch(() => undefined);
  if (!fh) { res.writeHead(404).end(); return; }
  try {
    const size = (await fh.stat()).size;
    const etag = `"${size.toString(16)}${opts.etagSuffix ?? ''}"`;
    let start = 0;
    let end = size;
    let status = 200;
    const headers: Record<string, string | number> = { 'content-type': 'application/octet-stream' };
    if (opts.ranges) {
      headers['accept-ranges'] = 'bytes';
      headers.etag = etag;
      const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
      const ifRange = req.headers['if-range'];
      if (m && (ifRange === undefined || ifRange === etag)) {
        start = Number(m[1]);
        end = m[2] ? Math.min(size, Number(m[2]) + 1) : size;
        if (start >= size) { res.writeHead(416, { 'content-range': `bytes */${size}` }).end(); return; }
        status = 206;
        headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
      }
    }
    headers['content-length'] = end - start + (opts.lengthDelta ?? 0);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') { res.end(); return; }
    const limit = opts.cutAfter === undefined ? end : Math.min(end, start + opts.cutAfter);
    const buf = Buffer.alloc(64 << 10);
    for (let pos = start; pos < limit;) {
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, limit - pos), pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      if (!res.write(buf.subarray(0, bytesRead))) await new Promise((r) => res.once('drain', r));
      if (opts.trickleMs) await new Promise((r) => setTimeout(r, opts.trickleMs));
      if (res.destroyed) return;
    }
    if (opts.stall) return; // keep the socket open and silent: the client's watchdog must fire
    if (limit < end || opts.lengthDelta) { res.destroy(); return; }
    res.end();
  } finally {
    await fh.close();
  }
}
