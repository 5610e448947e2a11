/**
 * cdi-uploadproxy (cluster mode): verifies upload tokens and forwards uploads over mTLS to the
 * volume's upload server, found through the Kubernetes API. `cdi serve` runs the same proxy
 * in-process for the embedded control plane.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { CdiError, asCdiError } from '../../src/api/errors.ts';
import { createUploadTargetResolver } from '../../src/controller/index.ts';
import { createLogger } from '../../src/log.ts';
import { startUploadProxy } from './app.ts';

/** CDI's mount points (cmd/cdi-uploadproxy); each can be moved with the env variable beside it. */
const files = {
  cert: ['UPLOADPROXY_TLS_CERT', '/var/run/certs/cdi-uploadproxy-server-cert/tls.crt'],
  key: ['UPLOADPROXY_TLS_KEY', '/var/run/certs/cdi-uploadproxy-server-cert/tls.key'],
  clientCert: ['UPLOADPROXY_CLIENT_CERT', '/var/run/certs/cdi-uploadserver-client-cert/tls.crt'],
  clientKey: ['UPLOADPROXY_CLIENT_KEY', '/var/run/certs/cdi-uploadserver-client-cert/tls.key'],
  serverCa: ['UPLOADPROXY_SERVER_CA', '/var/run/ca-bundle/cdi-uploadserver-signer-bundle/ca-bundle.crt'],
} as const;

const logger = createLogger('cdi-uploadproxy');

function read(which: keyof typeof files): string {
  const [envName, fallback] = files[which];
  return readFileSync(process.env[envName] || fallback, 'utf8');
}

async function main(): Promise<void> {
  const publicKeyPem = process.env.APISERVER_PUBLIC_KEY;
  if (!publicKeyPem) throw new CdiError('CDI_ERR_USAGE', ['APISERVER_PUBLIC_KEY is not set']);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const proxy = await startUploadProxy({
    host: process.env.UPLOADPROXY_HOST || '0.0.0.0',
    port: Number(process.env.UPLOADPROXY_PORT || '8443'),
    tls: { cert: read('cert'), key: read('key') },
    clientTls: { cert: read('clientCert'), key: read('clientKey'), ca: read('serverCa') },
    publicKeyPem,
    resolver: createUploadTargetResolver(kubeConfig),
    logger,
  });
  logger.info({ url: proxy.url }, 'upload proxy listening');
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      void proxy.close().finally(() => process.exit(0));
    });
  }
}

main().catch((err: unknown) => {
  const cdiErr = asCdiError(err);
  logger.error({ code: cdiErr.code, err: cdiErr.message }, 'upload proxy failed');
  process.exit(cdiErr instanceof CdiError ? cdiErr.exitCode : 1);
});
