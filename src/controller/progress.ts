import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { V1Pod } from '@kubernetes/client-node';
import { parseWorkerMetrics, type ScrapedProgress } from '../api/metrics.ts';
import { resolvePodPort } from '../api/local-ports.ts';
import { WorkerPort } from './pods.ts';

/**
 * Reads a worker's progress the way CDI's controller does: GET `/metrics` on the pod's port 8443
 * (HTTPS with the worker's self-signed certificate, so unverified; plain HTTP as a fallback) and
 * pick `kubevirt_cdi_{import,clone}_progress_total{ownerUID}`.
 */
function fetchText(url: string, timeoutMs: number): Promise<string> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
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
  for (const scheme of ['https', 'http']) {
    try {
      return parseWorkerMetrics(await fetchText(`${scheme}://${host}:${addr.port}/metrics`, timeoutMs), ownerUid);
    } catch {
      // try the next scheme; a worker between stages may not answer at all
    }
  }
  return undefined;
}
