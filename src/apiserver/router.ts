import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../api/logger.ts';
import { coreVersions, group, groupList, resourceList, versionInfo } from './discovery.ts';
import { readJson, sendError, sendJson, sendText, successStatus } from './http.ts';
import { apiVersionOf, findKind, type KindInfo } from './kinds.ts';
import type { DeleteOptions, ListOptions, ObjectService, Propagation } from './objects.ts';
import { checkTypeMeta } from './metadata.ts';
import { serveOpenApi } from './openapi-http.ts';
import { servePodLog } from './pod-log.ts';
import { kindSchema } from './kind-schemas.ts';
import { checkSchema, parseFieldValidation } from './schema-check.ts';
import { ApiError, badRequest, internal, methodNotAllowed, pathNotFound, unauthorized } from './status.ts';
import { toTable, wantsTable } from './table.ts';
import { createUploadToken } from './upload-token-request.ts';
import { serveWatch } from './watch.ts';

/**
 * Maps Kubernetes REST paths and verbs onto the object service:
 *   /api/v1/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]
 *   /apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]
 * plus discovery, /version, health and the OpenAPI documents (/openapi/v2, /openapi/v3).
 */
export interface RouterOptions {
  service: ObjectService;
  token: string;
  dataDir: string;
  serverAddress: () => string;
  uploadSigningKey: string;
  bookmarkIntervalMs: number;
  logger: Logger;
  isReady: () => boolean;
}

interface Target {
  info: KindInfo;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

const pods = findKind('', 'v1', 'pods')!;

function resolve(groupName: string, version: string, rest: string[]): Target | undefined {
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const info = findKind(groupName, version, rest[2]!);
    if (info?.namespaced && rest.length <= 5) return { info, namespace: rest[1], name: rest[3], subresource: rest[4] };
    if (groupName !== '' || rest.length > 3) return undefined;
  }
  const info = findKind(groupName, version, rest[0] ?? '');
  if (!info || rest.length > 3) return undefined;
  return { info, namespace: undefined, name: rest[1], subresource: rest[2] };
}

function authorized(req: IncomingMessage, token: string): boolean {
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) return false;
  const given = Buffer.from(m[1]!);
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

function intParam(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw badRequest(`invalid ${key}: ${v}`);
  return n;
}

/** kube-apiserver's `Warning: 299 - "<text>"` headers, one per warning. */
function setWarnings(res: ServerResponse, warnings: readonly string[]): void {
  if (warnings.length === 0) return;
  res.setHeader('Warning', [...new Set(warnings)].map((w) => `299 - "${w.replace(/["\\]/g, (c) => `\\${c}`)}"`));
}

function listOptions(q: URLSearchParams): ListOptions {
  return { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector'), limit: intParam(q, 'limit') ?? 0, continue: q.get('continue') };
}

function dryRun(q: URLSearchParams): boolean {
  const values = q.getAll('dryRun');
  if (values.some((v) => v !== 'All')) throw badRequest(`dryRun: Unsupported value: "${values.join(',')}": supported values: "All"`);
  return values.length > 0;
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const b = (body && typeof body === 'object' ? body : {}) as { propagationPolicy?: string; orphanDependents?: boolean; preconditions?: DeleteOptions['preconditions'] };
  let policy = q.get('propagationPolicy') ?? b.propagationPolicy;
  if (policy === undefined && (q.get('orphanDependents') === 'true' || b.orphanDependents === true)) policy = 'Orphan';
  if (policy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
    throw badRequest(`propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`);
  }
  return {
    ...(policy ? { propagationPolicy: policy as Propagation } : {}),
    ...(b.preconditions ? { preconditions: b.preconditions } : {}),
    ...(dryRun(q) ? { dryRun: true } : {}),
  };
}

export function createRouter(o: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { service } = o;
  /** Replies once every write so far is durable: nothing uncommitted is ever acknowledged. */
  const reply = async (res: ServerResponse, status: number, body: unknown): Promise<void> => {
    await service.store.settled();
    sendJson(res, status, body);
  };

  async function serveResource(t: Target, req: IncomingMessage, res: ServerResponse, q: URLSearchParams): Promise<void> {
    const { info, namespace, name, subresource } = t;
    const method = req.method ?? 'GET';
    if (subresource !== undefined && !(info.subresources as string[]).includes(subresource)) throw pathNotFound(req.url ?? '');
    if (info.createOnly) {
      if (method !== 'POST' || name !== undefined || namespace === undefined) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
      const duplicates: string[] = [];
      const body = checkTypeMeta(info, await readJson(req, duplicates));
      const checked = checkSchema(info, kindSchema(info), body, parseFieldValidation(q.get('fieldValidation')), duplicates);
      setWarnings(res, checked.warnings);
      return reply(res, 201, await createUploadToken(info, namespace, checked.object, o.uploadSigningKey));
    }
    const table = wantsTable(req.headers.accept);
    const warnings: string[] = [];
    const duplicates: string[] = [];
    const writeOpts = {
      ...(subresource === 'status' ? { subresource: 'status' as const } : {}),
      ...(dryRun(q) ? { dryRun: true } : {}),
      ...(method === 'GET' || method === 'DELETE' ? {} : { fieldValidation: parseFieldValidation(q.get('fieldValidation')), warnings, duplicates }),
    };
    const replyWarned = (status: number, body: unknown): Promise<void> => {
      setWarnings(res, warnings);
      return reply(res, status, body);
    };
    if (subresource === 'log') {
      if (method !== 'GET') throw methodNotAllowed('only GET is allowed on pods/log');
      return servePodLog(service, pods, o.dataDir, namespace ?? '', name!, req, res, {
        container: q.get('container'),
        follow: q.get('follow') === 'true',
        previous: q.get('previous') === 'true',
        tailLines: intParam(q, 'tailLines'),
        limitBytes: intParam(q, 'limitBytes'),
      });
    }
    if (name === undefined) {
      switch (method) {
        case 'GET': {
          if (q.get('watch') === 'true' || q.get('watch') === '1') {
            // Start from committed state only: the batch in flight reaches the watch as events.
            await service.store.settled();
            return serveWatch(service, info, req, res, {
              namespace,
              resourceVersion: q.get('resourceVersion'),
              labelSelector: q.get('labelSelector'),
              fieldSelector: q.get('fieldSelector'),
              allowBookmarks: q.get('allowWatchBookmarks') === 'true',
              timeoutSeconds: intParam(q, 'timeoutSeconds'),
              table,
              bookmarkIntervalMs: o.bookmarkIntervalMs,
            });
          }
          const list = service.list(info, namespace, listOptions(q));
          if (table) return reply(res, 200, toTable(info, list.items, list.resourceVersion, list.continue));
          return reply(res, 200, {
            kind: `${info.kind}List`,
            apiVersion: apiVersionOf(info),
            metadata: { resourceVersion: list.resourceVersion, ...(list.continue ? { continue: list.continue } : {}) },
            items: list.items,
          });
        }
        case 'POST':
          return replyWarned(201, service.create(info, namespace, await readJson(req, duplicates), writeOpts));
        case 'DELETE': {
          const body = await readJson(req);
          const items = service.deleteCollection(info, namespace, listOptions(q), deleteOptions(q, body));
          return reply(res, 200, { kind: `${info.kind}List`, apiVersion: apiVersionOf(info), metadata: {}, items });
        }
        default:
          throw methodNotAllowed(`method ${method} is not allowed on a collection`);
      }
    }
    switch (method) {
      case 'GET': {
        const obj = service.get(info, namespace, name);
        return reply(res, 200, table ? toTable(info, [obj], obj.metadata?.resourceVersion ?? '') : obj);
      }
      case 'PUT':
        return replyWarned(200, service.update(info, namespace, name, await readJson(req, duplicates), writeOpts));
      case 'PATCH':
        return replyWarned(200, service.patch(info, namespace, name, req.headers['content-type'] ?? '', await readJson(req), writeOpts));
      case 'DELETE': {
        if (subresource) throw methodNotAllowed('DELETE is not allowed on the status subresource');
        const obj = service.delete(info, namespace, name, deleteOptions(q, await readJson(req)));
        const remains = service.find(info, namespace, name)?.metadata?.uid === obj.metadata?.uid;
        return reply(res, 200, remains ? obj : successStatus({ name, ...(info.group ? { group: info.group } : {}), kind: info.plural, uid: obj.metadata?.uid }));
      }
      default:
        throw methodNotAllowed(`method ${method} is not allowed`);
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const parts = url.pathname.split('/').filter((s) => s !== '').map(decodeURIComponent);
    const q = url.searchParams;
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/healthz' || path === '/livez') return sendText(res, 200, 'ok');
    if (path === '/readyz') return o.isReady() ? sendText(res, 200, 'ok') : sendText(res, 503, 'not ready');
    if (!authorized(req, o.token)) throw unauthorized();
    if (path === '/version') return sendJson(res, 200, versionInfo);
    if (path === '/openapi/v2' || path === '/openapi/v3' || path.startsWith('/openapi/v3/')) return serveOpenApi(req, res, path, q);
    if (path === '/api') return sendJson(res, 200, coreVersions(o.serverAddress()));
    if (path === '/apis') return sendJson(res, 200, groupList());
    if (parts[0] === 'api' && parts[1] === 'v1') {
      if (parts.length === 2) return sendJson(res, 200, resourceList('', 'v1'));
      const t = resolve('', 'v1', parts.slice(2));
      if (t) return serveResource(t, req, res, q);
    }
    if (parts[0] === 'apis' && parts.length >= 2) {
      if (parts.length === 2) {
        const g = group(parts[1]!);
        if (g) return sendJson(res, 200, g);
      } else if (parts.length === 3) {
        const list = resourceList(parts[1]!, parts[2]!);
        if (list) return sendJson(res, 200, list);
      } else {
        const t = resolve(parts[1]!, parts[2]!, parts.slice(3));
        if (t) return serveResource(t, req, res, q);
      }
    }
    throw pathNotFound(url.pathname);
  }

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      const apiErr = err instanceof ApiError ? err : internal(err instanceof Error ? err.message : String(err));
      if (apiErr.code >= 500) o.logger.error({ err, method: req.method, url: req.url }, 'request failed');
      sendError(res, apiErr);
    });
  };
}
