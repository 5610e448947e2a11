import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { issueCertificate } from '../cluster/pki/certificate.ts';
import type { ListenAddress } from './listen.ts';
import { metricsContentType } from './metrics-text.ts';

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

const day = 86_400_000;

/**
 * A worker's `/metrics` over HTTPS with a self-signed certificate made at start, as every CDI
 * worker serves it (pkg/util/prometheus StartPrometheusEndpoint): the controller scrapes it
 * unverified. `render` is called on every scrape.
 */
export async function serveMetrics(address: ListenAddress, render: () => string): Promise<MetricsServer> {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * day) };
  const ca = issueCertificate({ commonName: 'cdi-worker-metrics-ca', usage: 'ca', ...validity });
  const leaf = issueCertificate({ commonName: 'cdi-worker-metrics', usage: 'server', hostnames: ['localhost', '127.0.0.1'], ...validity }, ca);
  const server = https.createServer({ cert: leaf.certPem + ca.certPem, key: leaf.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    let text: string;
    try {
      text = render();
    } catch {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': metricsContentType }).end(text);
  });
  // Every TCP socket, including ones still in the TLS handshake or idle between scrapes: the
  // worker must be able to exit the moment its work ends, whoever is connected.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
