import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from './http.ts';
import { documentHash, groupVersionPaths, openapiV2, openapiV3 } from './openapi.ts';
import { encodeOpenApiV2, OpenApiV2ProtoResponseType, OpenApiV2ProtoType } from './openapi-proto.ts';
import { pathNotFound } from './status.ts';

/**
 * Serves /openapi/v2 (JSON, or gnostic protobuf when asked) and /openapi/v3 (the discovery
 * document, then one document per group-version behind `?hash=`), with ETags as kube-apiserver
 * sends them. The documents never change while the server runs, so each is built once.
 */
interface Rendered {
  body: Buffer;
  hash: string;
}

const render = (body: Buffer): Rendered => ({ body, hash: documentHash(body) });
const once = <T>(make: () => T): (() => T) => {
  let value: T | undefined;
  return () => (value ??= make());
};

const v2Json = once(() => render(Buffer.from(JSON.stringify(openapiV2()))));
const v2Proto = once(() => render(encodeOpenApiV2(openapiV2())));
const v3Docs = once(() => {
  const docs = new Map<string, Rendered>();
  for (const gv of groupVersionPaths()) docs.set(gv, render(Buffer.from(JSON.stringify(openapiV3(gv)))));
  return docs;
});

function send(req: IncomingMessage, res: ServerResponse, doc: Rendered, type: string, cache: string): void {
  const etag = `"${doc.hash}"`;
  const headers = { ETag: etag, 'Cache-Control': cache, Vary: 'Accept' };
  if (req.headers['if-none-match'] === etag) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': doc.body.length });
  res.end(doc.body);
}

const wantsProtobuf = (accept: string | undefined): boolean =>
  (accept ?? '').split(',').some((t) => {
    const type = t.split(';')[0]!.trim();
    return type === OpenApiV2ProtoType || type === OpenApiV2ProtoResponseType;
  });

/** Answers a request under /openapi; `path` has no trailing slash. */
export function serveOpenApi(req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): void {
  if (path === '/openapi/v2') {
    // The answer's type is spelled with a dot: Go's mime parser refuses the '@' of the Accept form.
    if (wantsProtobuf(req.headers.accept)) return send(req, res, v2Proto(), OpenApiV2ProtoResponseType, 'no-cache, private');
    return send(req, res, v2Json(), 'application/json', 'no-cache, private');
  }
  if (path === '/openapi/v3') {
    const paths = Object.fromEntries([...v3Docs()].map(([gv, doc]) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${doc.hash}` }]));
    return sendJson(res, 200, { paths });
  }
  const gv = path.slice('/openapi/v3/'.length);
  const doc = path.startsWith('/openapi/v3/') ? v3Docs().get(gv) : undefined;
  if (!doc) throw pathNotFound(path);
  const hash = query.get('hash');
  if (hash !== null && hash !== doc.hash) {
    // An old hash: point the client at the current document, as kube-apiserver does.
    res.writeHead(301, { Location: `/openapi/v3/${gv}?hash=${doc.hash}`, 'Content-Length': 0 });
    res.end();
    return;
  }
  send(req, res, doc, 'application/json', hash === null ? 'no-cache, private' : 'public, immutable');
}
