import { request } from 'node:https';
import { get } from 'node:http';

/**
 * `node src/cluster/healthcheck.ts <url>`: the images' HEALTHCHECK. Exits 0 when the URL answers
 * 2xx within 3 s. Only loopback URLs are accepted, and their TLS certificate is not verified: the
 * process checks itself, and its serving certificate names the Service, not 127.0.0.1.
 */
const target = process.argv[2];
let url: URL;
try {
  url = new URL(target ?? '');
} catch {
  process.stderr.write('usage: healthcheck.ts <http(s)://127.0.0.1:port/path>\n');
  process.exit(64);
}
if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)) {
  process.stderr.write(`healthcheck: refusing non-loopback host ${url.hostname}\n`);
  process.exit(64);
}
const done = (ok: boolean) => process.exit(ok ? 0 : 1);
const req =
  url.protocol === 'https:'
    ? request(url, { rejectUnauthorized: false, timeout: 3000 }, (res) => done((res.statusCode ?? 0) < 300))
    : get(url, { timeout: 3000 }, (res) => done((res.statusCode ?? 0) < 300));
req.on('timeout', () => req.destroy(new Error('timeout')));
req.on('error', () => done(false));
req.end();
