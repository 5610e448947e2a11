import type { CoreV1Api } from '@kubernetes/client-node';
import type { Logger } from '../../api/logger.ts';
import { startUploadProxy, type StartUploadProxyOptions } from '../../../uploadproxy/proxy/app.ts';
import { uploadClientTls } from './upload-proxy-tls.ts';

export interface UploadProxyRunner {
  url: string;
  close(): Promise<void>;
}

/**
 * Runs the upload proxy and follows the controller's certificate rotation: the client
 * certificate it shows upload servers lives 24 h and is renewed after 12 h, so every
 * `checkMs` the proxy compares it with the Secret and, when it changed, restarts on the same
 * port with the new one (an upload in flight finishes on the old instance first).
 */
export async function runUploadProxy(
  opts: Omit<StartUploadProxyOptions, 'clientTls'> & { core: CoreV1Api; cdiNamespace: string; checkMs?: number; logger: Logger },
): Promise<UploadProxyRunner> {
  let clientTls = await uploadClientTls(opts.core, opts.cdiNamespace);
  let proxy = await startUploadProxy({ ...opts, clientTls });
  const port = Number(new URL(proxy.url).port);
  let swapping: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    swapping = swapping.then(async () => {
      try {
        const next = await uploadClientTls(opts.core, opts.cdiNamespace);
        if (next.cert === clientTls.cert && next.key === clientTls.key && next.ca === clientTls.ca) return;
        await proxy.close();
        proxy = await startUploadProxy({ ...opts, port, clientTls: next });
        clientTls = next;
        opts.logger.info({ url: proxy.url }, 'upload proxy restarted with the rotated client certificate');
      } catch (err) {
        opts.logger.warn({ err: String(err) }, 'upload proxy certificate refresh failed');
      }
    });
  }, opts.checkMs ?? 600_000);
  timer.unref();
  return {
    url: proxy.url,
    async close() {
      clearInterval(timer);
      await swapping;
      await proxy.close();
    },
  };
}
