import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Server as TlsServer, TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { AuthorizationV1Api, CoreV1Api } from '@kubernetes/client-node';
import { Command } from 'commander';
import { asCdiError } from '../../api/errors.ts';
import { createLogger } from '../../log.ts';
import { selectKubeConfig } from '../kubeconfig.ts';
import { readTlsMaterial, watchTlsDirectory } from '../pki/reload.ts';
import { SigningKeySecret } from '../pki/signing-key.ts';
import { onShutdown } from '../../worker/shutdown.ts';
import { clusterAdmissionBackends } from './admission-backends.ts';
import { buildTokenApi } from './app.ts';
import { loadRequestHeaderConfig, peerOf, requestHeaderConfigFrom, userFromFrontProxy } from './authn.ts';
import { subjectAccessReviewAuthorizer } from './authz.ts';

/** cdi-token-api: cluster mode's cdi-apiserver: CDI's admission webhooks and the aggregated upload.cdi.kubevirt.io API. */
const program = new Command('cdi-token-api')
  .description('Serves CDI\'s admission webhooks (/datavolume-validate, /datavolume-mutate, /pvc-mutate) and POST /apis/upload.cdi.kubevirt.io/v1beta1/namespaces/{ns}/uploadtokenrequests behind the kube-apiserver aggregator')
  .option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster service account, then $KUBECONFIG, then ~/.kube/config)')
  .option('--address <ip>', 'listen address', '0.0.0.0')
  .option('--port <port>', 'HTTPS port', (v) => Number.parseInt(v, 10), 8443)
  .option('--tls-dir <dir>', 'serving certificate directory (tls.crt, tls.key), reloaded on change', '/var/run/certs/cdi-apiserver-server-cert')
  .option('--signing-key-dir <dir>', `directory of Secret ${SigningKeySecret.name} (${SigningKeySecret.privateKey})`, '/var/run/cdi/signing-key')
  .option('--requestheader-client-ca-file <path>', 'front-proxy CA; default: read kube-system/extension-apiserver-authentication')
  .action(async (opts: { kubeconfig?: string; address: string; port: number; tlsDir: string; signingKeyDir: string; requestheaderClientCaFile?: string }) => {
    const logger = createLogger('cdi-token-api');
    const { kubeConfig, source } = selectKubeConfig({ kubeconfig: opts.kubeconfig });
    const requestHeader = opts.requestheaderClientCaFile
      ? requestHeaderConfigFrom({ 'requestheader-client-ca-file': await readFile(opts.requestheaderClientCaFile, 'utf8') })
      : await loadRequestHeaderConfig(kubeConfig.makeApiClient(CoreV1Api));
    const tls = await readTlsMaterial({ dir: opts.tlsDir });
    const app = buildTokenApi(
      {
        authenticate: (request) => userFromFrontProxy(request.headers, peerOf(request.raw.socket as TLSSocket), requestHeader),
        authorize: subjectAccessReviewAuthorizer(kubeConfig.makeApiClient(AuthorizationV1Api)),
        signingKey: () => readFile(join(opts.signingKeyDir, SigningKeySecret.privateKey), 'utf8'),
        logger,
        admission: clusterAdmissionBackends(kubeConfig),
      },
      { https: { cert: tls.cert, key: tls.key, ca: requestHeader.clientCaPem, requestCert: true, rejectUnauthorized: false } },
    );
    await app.listen({ host: opts.address, port: opts.port });
    const watcher = watchTlsDirectory(app.server as unknown as TlsServer, {
      dir: opts.tlsDir,
      logger,
      contextOptions: { ca: requestHeader.clientCaPem },
    });
    // The bound port, not the asked one: --port 0 picks a free port.
    logger.info({ address: opts.address, port: (app.server.address() as AddressInfo).port, kubeconfig: source }, 'token API listening');
    onShutdown(logger, async () => {
      watcher.close();
      await app.close();
    });
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const cdiErr = asCdiError(err);
  process.stderr.write(`cdi-token-api: ${cdiErr.code}: ${cdiErr.message}\n`);
  process.exit(cdiErr.exitCode);
}
