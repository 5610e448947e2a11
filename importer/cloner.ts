// The source side of a host-assisted clone (image cdi-ts/cloner): streams the source volume's raw
// image to the target volume's upload server over mutual TLS, as CDI's cdi-cloner does, and
// reports kubevirt_cdi_clone_progress_total{ownerUID} on its metrics port. The target's upload
// server runs the format engine into the target volume (docs/adr/0006-host-assisted-clone.md).
import { createReadStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { request } from 'node:https';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Gauge, Registry } from 'prom-client';
import { ClonerEnv, LocalEnv, PodPaths } from '../src/api/env.ts';
import { WorkerMetrics } from '../src/api/metrics.ts';
import { createLogger } from '../src/log.ts';

const logger = createLogger('cdi-cloner');
const env = process.env;
const terminationLog = env[LocalEnv.terminationLog] || PodPaths.terminationLog;

function required(name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Bytes of a regular file or a block device (whose stat size is 0, so seek to its end). */
async function sizeOf(path: string): Promise<number> {
  const handle = await open(path, 'r');
  try {
    const st = await handle.stat();
    if (st.isFile()) return st.size;
    const probe = Buffer.alloc(1);
    let lo = 0;
    let hi = 2 ** 50;
    while (lo < hi) {
      const mid = Math.floor((lo + hi + 1) / 2);
      const { bytesRead } = await handle.read(probe, 0, 1, mid - 1);
      if (bytesRead === 1) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  } finally {
    await handle.close();
  }
}

function startMetrics(progress: Gauge): void {
  const registry = new Registry();
  registry.registerMetric(progress);
  // As the importer: the node agent sets CDI_LISTEN_PORT and wants loopback; in a pod the
  // controller scrapes the pod IP, so listen on all interfaces.
  const local = env[LocalEnv.listenPort] !== undefined;
  const port = local ? Number(env[LocalEnv.listenPort]) : 8443;
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  });
  server.listen(port, local ? '127.0.0.1' : '0.0.0.0');
  server.unref();
}

async function upload(source: string, size: number, onBytes: (n: number) => void): Promise<void> {
  const url = new URL(required(ClonerEnv.uploadUrl));
  const servername = env[ClonerEnv.serverName];
  await new Promise<void>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      key: required(ClonerEnv.clientKey),
      cert: required(ClonerEnv.clientCert),
      ca: required(ClonerEnv.serverCaCert),
      ...(servername && !/^[\d.]+$/.test(url.hostname) ? { servername } : {}),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8').trim();
        if (res.statusCode === 200) resolve();
        else reject(new Error(`upload server answered ${res.statusCode}${body ? `: ${body}` : ''}`));
      });
    });
    req.on('error', reject);
    let sent = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        sent += chunk.length;
        onBytes(sent);
        done(null, chunk);
      },
    });
    pipeline(createReadStream(source, { highWaterMark: 1 << 20 }), meter, req).catch(reject);
  });
}

async function main(): Promise<void> {
  const source = required(ClonerEnv.sourcePath);
  const ownerUID = env[ClonerEnv.ownerUid] ?? '';
  const progress = new Gauge({ name: WorkerMetrics.cloneProgress, help: 'The clone progress in percentage', labelNames: ['ownerUID'] });
  startMetrics(progress);
  const size = await sizeOf(source);
  logger.info({ source, size, target: env[ClonerEnv.uploadUrl] }, 'cloning');
  let lastLogged = 0;
  await upload(source, size, (sent) => {
    const percent = size === 0 ? 100 : (sent / size) * 100;
    progress.set({ ownerUID }, percent);
    if (percent - lastLogged >= 10) {
      lastLogged = percent;
      logger.info({ percent: percent.toFixed(1) }, 'progress');
    }
  });
  progress.set({ ownerUID }, 100);
  await writeFile(terminationLog, JSON.stringify({ message: 'Clone Complete' })).catch(() => {});
  logger.info({ bytes: size }, 'clone complete');
}

try {
  await main();
  process.exit(0);
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  logger.error({ err: message }, 'clone failed');
  await writeFile(terminationLog, message.slice(0, 4096)).catch(() => {});
  process.exit(1);
}
