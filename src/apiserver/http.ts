import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeKubernetesProtobuf, ProtobufMediaType } from '../protobuf/k8s-decode.ts';
import { protobufMessageFor } from '../protobuf/k8s-messages.ts';
import { ProtobufError } from '../protobuf/wire-reader.ts';
import { duplicateFields } from './json-duplicates.ts';
import { ApiError, badRequest } from './status.ts';

/** Request bodies and JSON replies, with Kubernetes' 3 MiB request limit. */
const MaxBody = 3 * 1024 * 1024;

/**
 * How deep a body may nest. kube-apiserver's decoder stops at 10,000 levels; serializing and
 * copying objects here recurse on V8's stack, which gives out between 4,000 and 5,000, so the
 * limit is lower, with the decoder's message.
 */
export const MaxJsonDepth = 1000;

function checkDepth(text: string): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > MaxJsonDepth) throw badRequest(`the request body is not valid JSON: invalid character '${text[i]}' exceeded max depth`);
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
}

const UnsupportedMediaType = new ApiError(
  415,
  'UnsupportedMediaType',
  `the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/json-patch+json, application/strategic-merge-patch+json`,
);

/** A request body's bytes, refused past the 3 MiB limit. */
export async function readBytes(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MaxBody) throw new ApiError(413, 'RequestEntityTooLarge', 'Request entity too large: limit is 3145728');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

export interface ReadOptions {
  /** Decode protobuf bodies (the built-in kinds that have a protobuf form). */
  protobuf?: boolean;
  /** Receives the paths of repeated object keys (JSON.parse keeps the last). */
  duplicates?: string[];
}

/**
 * A request body as JSON. Protobuf bodies are decoded when asked for; otherwise they, CBOR and
 * anything else get 415, as kube-apiserver answers for custom resources.
 */
export async function readJson(req: IncomingMessage, opts: ReadOptions = {}): Promise<unknown> {
  const type = (req.headers['content-type'] ?? 'application/json').split(';')[0]!.trim();
  if (type === ProtobufMediaType && opts.protobuf) {
    const bytes = await readBytes(req);
    if (bytes.length === 0) return undefined;
    try {
      return decodeKubernetesProtobuf(bytes, protobufMessageFor);
    } catch (err) {
      if (err instanceof ProtobufError) throw badRequest(`the body of the request could not be decoded as ${ProtobufMediaType}: ${err.message}`);
      throw err;
    }
  }
  if (!/^application\/([a-z-]+\+)?json$/.test(type) && type !== '*/*') {
    req.resume();
    throw UnsupportedMediaType;
  }
  const text = (await readBytes(req)).toString('utf8');
  if (text.trim() === '') return undefined;
  checkDepth(text);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(`the request body is not valid JSON: ${(err as Error).message}`);
  }
  opts.duplicates?.push(...duplicateFields(text));
  return value;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) });
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.code, err.toStatus());
}

export function successStatus(details: Record<string, unknown>): Record<string, unknown> {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details };
}
