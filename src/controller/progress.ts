import { request } from 'node:https';
import type { V1Pod } from '@kubernetes/client-node';
import { parseWorkerMetrics, type ScrapedProgress } from '../api/metrics.ts';
import { resolvePodPort } from '../api/local-ports.ts';
import { WorkerPort } from './pods.ts';

/**
 * Reads a worker's progress the way CDI's controller does: GET `/metrics` on the pod's port 8443
 * (HTTPS with the worker's self-signed certificate, so unverified: every worker serves it so) and
 * pick `kubevirt_cdi_{import,clone}_progress_total{ownerUID}`.
 */
function fetchText(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // No keep-alive and a hard deadline: a connection left open to a worker that is shutting down
    // would keep its metrics server (and so the worker) from exiting.
    const req = request(url, { rejectUnauthorized: false, agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`metrics answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    const deadline = setTimeout(() => req.destroy(new Error('metrics request timed out')), timeoutMs);
    req.on('close', () => clearTimeout(deadline));
    req.on('error', reject);
    req.end();
  });
}

export async function scrapeProgress(pod: V1Pod, ownerUid: string, timeoutMs = 1500): Promise<ScrapedProgress | undefined> {
  const addr = resolvePodPort(pod, WorkerPort);
  if (!addr) return undefined;
  const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  try {
    return parseWorkerMetrics(await fetchText(`https://${host}:${addr.port}/metrics`, timeoutMs), ownerUid);
  } catch {
    return undefined; // a worker starting or finishing may not answer
  }
}
