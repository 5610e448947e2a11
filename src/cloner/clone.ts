import { createReadStream } from 'node:fs';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CdiError, isCdiError } from '../api/errors.ts';
import { deviceSize } from '../format/device-size.ts';
import type { ClonerConfig } from './config.ts';

export interface CloneResult {
  bytes: number;
}

async function sourceSize(path: string): Promise<number> {
  try {
    return await deviceSize(path);
  } catch (err) {
    throw new CdiError('CDI_ERR_CLONE_SOURCE', [path, (err as Error).message], { cause: err });
  }
}

/**
 * The source side of a host-assisted clone, as CDI's cdi-cloner does it: POSTs the source
 * volume's raw bytes (a file or a block device) to the target's upload server over mutual TLS
 * and reports how far it is as a percentage. The upload server writes the target volume.
 */
export async function cloneToUploadServer(config: ClonerConfig, onProgress: (percent: number) => void): Promise<CloneResult> {
  const size = await sourceSize(config.sourcePath);
  const url = config.uploadUrl;
  await new Promise<void>((resolve, reject) => {
    const post = (): ReturnType<typeof request> => request(url, {
      method: 'POST',
      key: config.clientKey,
      cert: config.clientCert,
      ca: config.serverCaCert,
      // SNI carries names only; an address in UPLOAD_URL is checked against the certificate's addresses.
      ...(config.serverName && isIP(url.hostname.replace(/^\[|\]$/g, '')) === 0 ? { servername: config.serverName } : {}),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    let req: ReturnType<typeof request>;
    try {
      req = post();
    } catch (err) {
      // A key or certificate Node cannot use fails here, before any connection.
      reject(new CdiError('CDI_ERR_CLONE_POST', [(err as Error).message, url.href], { cause: err }));
      return;
    }
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve();
          return;
        }
        const body = Buffer.concat(chunks).toString('utf8').trim();
        reject(new CdiError('CDI_ERR_CLONE_STATUS', [status, body ? `: ${body}` : '']));
      });
    });
    req.on('error', (err) => reject(isCdiError(err) ? err : new CdiError('CDI_ERR_CLONE_POST', [err.message, url.href], { cause: err })));
    let sent = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        sent += chunk.length;
        onProgress(size === 0 ? 100 : (sent / size) * 100);
        done(null, chunk);
      },
    });
    const source = createReadStream(config.sourcePath, { highWaterMark: 1 << 20 });
    source.once('error', (err) => reject(new CdiError('CDI_ERR_CLONE_SOURCE', [config.sourcePath, err.message], { cause: err })));
    pipeline(source, meter, req).catch((err: unknown) => {
      reject(isCdiError(err) ? err : new CdiError('CDI_ERR_CLONE_POST', [(err as Error).message, url.href], { cause: err }));
    });
  });
  onProgress(100);
  return { bytes: size };
}
