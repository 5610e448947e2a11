import { request } from 'node:https';
import { describe, expect, it } from 'vitest';
import { serveMetrics } from './metrics-server.ts';
import { metricsContentType } from './metrics-text.ts';

function get(port: number, urlPath: string): Promise<{ status: number; type: string | undefined; body: string; cert: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: urlPath, rejectUnauthorized: false, agent: false }, (res) => {
      const cert = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN ?? '');
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body, cert }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('worker metrics endpoint', () => {
  it('serves the rendered text over HTTPS with a self-signed certificate, on loopback', async () => {
    let scrapes = 0;
    const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, () => `scrape ${++scrapes}\n`);
    try {
      expect(await get(server.port, '/metrics')).toEqual({ status: 200, type: metricsContentType, body: 'scrape 1\n', cert: 'cdi-worker-metrics' });
      expect((await get(server.port, '/metrics?x=1')).body).toBe('scrape 2\n');
      expect((await get(server.port, '/other')).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('answers 500 when the metrics cannot be rendered', async () => {
    const server = await serveMetrics({ host: '127.0.0.1', port: 0 }, () => { throw new Error('boom'); });
    try {
      expect((await get(server.port, '/metrics')).status).toBe(500);
    } finally {
      await server.close();
    }
  });

  it('fails to start on a port in use', async () => {
    const first = await serveMetrics({ host: '127.0.0.1', port: 0 }, () => '');
    try {
      await expect(serveMetrics({ host: '127.0.0.1', port: first.port }, () => '')).rejects.toMatchObject({ code: 'EADDRINUSE' });
    } finally {
      await first.close();
    }
  });
});
