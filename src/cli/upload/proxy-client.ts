/**
 * The requests `image-upload` makes to the upload proxy, over node:http(s). The file body is read
 * into a few buffers that are reused once the socket has taken their bytes: a fresh 1 MiB buffer
 * per read (a read stream into undici) made the client fault in new pages and run full GCs for
 * every few dozen MiB, and the client, a Node process beside proxy and server on the same cores,
 * cost about twice curl's CPU for the same upload (docs/adr/0033).
 */
import { open } from 'node:fs/promises';
import http, { type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Writable } from 'node:stream';

/** Bytes per file read and socket write, and how many such writes may be under way at once. */
const ChunkBytes = 1 << 20;
const ChunksInFlight = 4;

export interface ProxyAnswer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  text: string;
}

export interface FileBody {
  path: string;
  /** First byte of the file to send. */
  start: number;
  /** One past the last byte to send. */
  end: number;
  /** Told the file offset up to which bytes were handed to the connection. */
  onSent?: (offset: number) => void;
}

export class ProxyClient {
  readonly #agents: { http: http.Agent; https: https.Agent };

  constructor(tls: { insecure: boolean; ca?: string }) {
    this.#agents = {
      http: new http.Agent({ keepAlive: true }),
      https: new https.Agent({ keepAlive: true, rejectUnauthorized: !tls.insecure, ...(tls.ca ? { ca: tls.ca } : {}) }),
    };
  }

  head(url: string, headers: Record<string, string>): Promise<ProxyAnswer> {
    return new Promise<ProxyAnswer>((resolve, reject) => {
      const req = this.#request(url, 'HEAD', headers);
      req.once('error', reject);
      req.once('response', (res) => void readAnswer(res).then(resolve, reject));
      req.end();
    });
  }

  /**
   * POSTs `body` with a Content-Length and resolves with the answer. An answer that comes before
   * the whole body was sent (a refusal) stops the sending; the connection is then closed.
   */
  postFile(url: string, headers: Record<string, string>, body: FileBody): Promise<ProxyAnswer> {
    return new Promise<ProxyAnswer>((resolve, reject) => {
      const req = this.#request(url, 'POST', { ...headers, 'content-length': String(body.end - body.start) });
      const stop = new AbortController();
      let answered = false;
      req.once('error', (err) => {
        stop.abort(err);
        if (!answered) reject(err);
      });
      req.once('response', (res) => {
        answered = true;
        stop.abort(new Error('the upload proxy answered'));
        readAnswer(res).then(resolve, reject).finally(() => {
          if (!req.writableFinished) req.destroy();
        });
      });
      writeFileRange(req, body, stop.signal).then(
        () => req.end(),
        (err: unknown) => {
          if (stop.signal.aborted) return;
          req.destroy(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }

  close(): void {
    this.#agents.http.destroy();
    this.#agents.https.destroy();
  }

  #request(url: string, method: string, headers: Record<string, string>): ClientRequest {
    const target = new URL(url);
    const secure = target.protocol === 'https:';
    return (secure ? https : http).request(target, { method, headers, agent: secure ? this.#agents.https : this.#agents.http });
  }
}

async function readAnswer(res: IncomingMessage): Promise<ProxyAnswer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { statusCode: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') };
}

/**
 * Writes bytes `start..end` of the file to `out` through a ring of `ChunksInFlight` buffers: a
 * buffer is read into again only after `out` called back for its last write, so reads overlap the
 * socket's work and nothing is allocated per chunk. Stops (without error) when `signal` aborts.
 */
export async function writeFileRange(out: Writable, body: FileBody, signal: AbortSignal): Promise<void> {
  const file = await open(body.path, 'r');
  const buffers = Array.from({ length: ChunksInFlight }, () => Buffer.allocUnsafeSlow(ChunkBytes));
  const flushed: Array<Promise<void> | undefined> = [];
  try {
    let pos = body.start;
    for (let i = 0; pos < body.end && !signal.aborted; i = (i + 1) % ChunksInFlight) {
      await flushed[i];
      if (signal.aborted) break;
      const buffer = buffers[i]!;
      const { bytesRead } = await file.read(buffer, 0, Math.min(ChunkBytes, body.end - pos), pos);
      if (bytesRead === 0) throw new Error(`${body.path} ended at byte ${pos}, before ${body.end}`);
      pos += bytesRead;
      const written = new Promise<void>((resolve, reject) => {
        out.write(buffer.subarray(0, bytesRead), (err) => (err ? reject(err) : resolve()));
      });
      // Awaited before the buffer is reused, or below; a failure is also seen by the request's 'error'.
      written.catch(() => undefined);
      flushed[i] = written;
      body.onSent?.(pos);
    }
    if (!signal.aborted) await Promise.all(flushed);
  } finally {
    await file.close();
  }
}
