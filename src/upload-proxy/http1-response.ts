import { CdiError } from '../api/errors.ts';

/** An upload server's answer, read whole: these are short texts, never image data. */
export interface UpstreamResponse {
  statusCode: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

const MaxHeadBytes = 64 * 1024;
const MaxBodyBytes = 1024 * 1024;
const CrLf = Buffer.from('\r\n');
const HeadEnd = Buffer.from('\r\n\r\n');

function malformed(why: string): CdiError {
  return new CdiError('CDI_ERR_UPLOAD_FORWARD', [`malformed answer from the upload server: ${why}`]);
}

function parseHead(text: string): { statusCode: number; headers: Record<string, string | string[]> } {
  const [statusLine, ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine ?? '');
  if (!status) throw malformed(`status line ${JSON.stringify(statusLine?.slice(0, 80))}`);
  const headers: Record<string, string | string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed('header line without a name');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const seen = headers[name];
    headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return { statusCode: Number(status[1]), headers };
}

type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };

function framing(method: string, statusCode: number, headers: Record<string, string | string[]>): Framing {
  if (method === 'HEAD' || statusCode === 204 || statusCode === 304) return { kind: 'none' };
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    if (String(te).toLowerCase().split(',').at(-1)?.trim() !== 'chunked') throw malformed(`transfer-encoding ${String(te)}`);
    return { kind: 'chunked' };
  }
  const cl = headers['content-length'];
  if (cl === undefined) return { kind: 'close' };
  if (Array.isArray(cl) || !/^\d+$/.test(cl)) throw malformed('content-length');
  const length = Number(cl);
  if (length > MaxBodyBytes) throw malformed(`a body of ${length} bytes`);
  return { kind: 'length', length };
}

/** Decodes a complete chunked body from `bytes`, or answers undefined while it is incomplete. */
function dechunk(bytes: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = bytes.indexOf(CrLf, at);
    if (lineEnd < 0) return undefined;
    const sizeText = bytes.subarray(at, lineEnd).toString('latin1').split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) throw malformed('chunk size');
    const size = parseInt(sizeText, 16);
    at = lineEnd + 2;
    if (size === 0) {
      // Trailers, if any, end with an empty line.
      if (bytes.subarray(at, at + 2).equals(CrLf)) return Buffer.concat(parts);
      return bytes.indexOf(HeadEnd, at - 2) < 0 ? undefined : Buffer.concat(parts);
    }
    if (bytes.length < at + size + 2) return undefined;
    parts.push(bytes.subarray(at, at + size));
    at += size + 2;
    if (parts.reduce((n, p) => n + p.length, 0) > MaxBodyBytes) throw malformed('a body over 1 MiB');
  }
}

/**
 * Reads one HTTP/1.1 response from the bytes of a connection, fed as they come. Interim 1xx
 * answers are skipped. A pure codec: the caller owns the socket.
 */
export class ResponseDecoder {
  readonly #method: string;
  #bytes: Buffer = Buffer.alloc(0);
  #head: { statusCode: number; headers: Record<string, string | string[]>; framing: Framing } | undefined;

  constructor(method: string) {
    this.#method = method;
  }

  /** Adds bytes; answers the response once it is complete. */
  push(chunk: Buffer): UpstreamResponse | undefined {
    this.#bytes = this.#bytes.length === 0 ? chunk : Buffer.concat([this.#bytes, chunk]);
    while (this.#head === undefined) {
      const end = this.#bytes.indexOf(HeadEnd);
      if (end < 0) {
        if (this.#bytes.length > MaxHeadBytes) throw malformed('a header over 64 KiB');
        return undefined;
      }
      const head = parseHead(this.#bytes.subarray(0, end).toString('latin1'));
      this.#bytes = this.#bytes.subarray(end + 4);
      if (head.statusCode >= 100 && head.statusCode < 200) continue;
      this.#head = { ...head, framing: framing(this.#method, head.statusCode, head.headers) };
    }
    const { statusCode, headers, framing: f } = this.#head;
    switch (f.kind) {
      case 'none':
        return { statusCode, headers, body: Buffer.alloc(0) };
      case 'length':
        return this.#bytes.length >= f.length ? { statusCode, headers, body: Buffer.from(this.#bytes.subarray(0, f.length)) } : undefined;
      case 'chunked': {
        const body = dechunk(this.#bytes);
        return body && { statusCode, headers, body };
      }
      case 'close':
        if (this.#bytes.length > MaxBodyBytes) throw malformed('a body over 1 MiB');
        return undefined;
    }
  }

  /** The connection ended: the response, if it was framed by the end of the connection. */
  end(): UpstreamResponse {
    if (this.#head?.framing.kind === 'close') return { statusCode: this.#head.statusCode, headers: this.#head.headers, body: this.#bytes };
    throw new CdiError('CDI_ERR_UPLOAD_FORWARD', ['the upload server closed the connection before it answered']);
  }
}
