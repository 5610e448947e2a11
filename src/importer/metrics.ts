import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { Counter, Gauge, Registry } from 'prom-client';
import { issueCertificate } from '../cluster/pki/certificate.ts';
import type { ImportStatus } from './status.ts';

/**
 * CDI's importer metrics: `kubevirt_cdi_import_progress_total{ownerUID}` (a counter holding a
 * percentage), plus the stage and bytes done, which CDI lacks. Values are refreshed every second
 * and on every scrape.
 */
export function importMetrics(status: ImportStatus, ownerUID: string): { registry: Registry; refresh(): void } {
  const registry = new Registry();
  const progress = new Counter({ name: 'kubevirt_cdi_import_progress_total', help: 'The import progress in percentage', labelNames: ['ownerUID'], registers: [registry] });
  const bytes = new Gauge({ name: 'kubevirt_cdi_import_bytes_processed', help: 'Source bytes the importer has received', labelNames: ['ownerUID'], registers: [registry] });
  const written = new Gauge({ name: 'kubevirt_cdi_import_bytes_written', help: 'Disk bytes the importer has written', labelNames: ['ownerUID'], registers: [registry] });
  const stage = new Gauge({ name: 'kubevirt_cdi_import_stage', help: 'The importer stage (1 for the current one)', labelNames: ['ownerUID', 'stage'], registers: [registry] });
  let shown = 0;
  let shownStage = '';
  const refresh = (): void => {
    const percent = status.percent() ?? 0;
    // A counter only grows: add the difference, as CDI's progress reader does.
    if (percent > shown) {
      progress.inc({ ownerUID }, percent - shown);
      shown = percent;
    }
    bytes.set({ ownerUID }, status.bytesDone());
    written.set({ ownerUID }, status.writtenBytes);
    if (shownStage !== status.stage) {
      if (shownStage) stage.set({ ownerUID, stage: shownStage }, 0);
      stage.set({ ownerUID, stage: status.stage }, 1);
      shownStage = status.stage;
    }
  };
  progress.inc({ ownerUID }, 0);
  refresh();
  return { registry, refresh };
}

export interface MetricsServer {
  port: number;
  close(): Promise<void>;
}

/** Serves `/metrics` over HTTPS with a certificate made at start, as CDI's worker does. */
export async function serveMetrics(status: ImportStatus, ownerUID: string, host: string, port: number): Promise<MetricsServer> {
  const { registry, refresh } = importMetrics(status, ownerUID);
  const now = Date.now();
  const ca = issueCertificate({ commonName: 'cdi-importer-ca', usage: 'ca', notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * 86400_000) });
  const leaf = issueCertificate({ commonName: 'importer', usage: 'server', hostnames: ['localhost', '127.0.0.1'], notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * 86400_000) }, ca);
  const timer = setInterval(refresh, 1000);
  timer.unref();
  const server = https.createServer({ cert: leaf.certPem + ca.certPem, key: leaf.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
    if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    refresh();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  // Every TCP socket, including ones still in the TLS handshake or idle between scrapes: the
  // worker must be able to exit the moment the import ends, whoever is connected.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      clearInterval(timer);
      server.close();
      for (const socket of sockets) socket.destroy();
    },
  };
}
