/**
 * The upload proxy as its own process for bench/upload.ts (so its RSS is measured apart from the
 * upload server's). Config comes as JSON in BENCH_UPLOAD_PROXY; the one volume's upload server
 * URL is read from `targetFile` on every request, so each round can start a fresh server.
 */
import { readFile } from 'node:fs/promises';
import { silentLogger } from '../src/api/logger.ts';
import { startUploadProxy } from '../src/upload-proxy/app.ts';

interface Config {
  cert: string;
  key: string;
  clientCert: string;
  clientKey: string;
  ca: string;
  publicKeyPem: string;
  targetFile: string;
  localSocketDir: string;
}

const config = JSON.parse(process.env.BENCH_UPLOAD_PROXY ?? '{}') as Config;
const proxy = await startUploadProxy({
  host: '127.0.0.1',
  port: 0,
  tls: { cert: config.cert, key: config.key },
  clientTls: { cert: config.clientCert, key: config.clientKey, ca: config.ca },
  publicKeyPem: config.publicKeyPem,
  localSocketDir: config.localSocketDir,
  logger: silentLogger,
  resolver: {
    async resolve() {
      const url = (await readFile(config.targetFile, 'utf8').catch(() => '')).trim();
      return url ? { kind: 'ready', url, contentType: 'kubevirt' } : { kind: 'not-ready' };
    },
  },
});
process.stdout.write(`${proxy.url}\n`);
process.once('SIGTERM', () => void proxy.close().finally(() => process.exit(0)));
