import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../api/logger.ts';
import { selfSubjectAccessReview, selfSubjectRulesReview, subjectAccessReview } from './auth/access-reviews.ts';
import { admitDelete, admitWrite, validateWrite, type WriteRequest } from './auth/admission.ts';
import type { WebhookDispatcher } from './webhooks/dispatch.ts';
import { nonResource, resourceAttributes } from './auth/forbidden.ts';
import type { ApiAuth } from './auth/index.ts';
import { createServiceAccountToken } from './auth/token-request.ts';
import type { UserInfo } from './auth/user.ts';
import { coreVersions, group, groupList, resourceList, versionInfo } from './discovery.ts';
import { readJson, sendError, sendJson, sendText, successStatus } from './http.ts';
import { apiVersionOf, findKind, type KindInfo, type KubeObject } from './kinds.ts';
import type { ObjectService } from './objects.ts';
import { protobufKinds } from '../protobuf/k8s-messages.ts';
import { checkTypeMeta } from './metadata.ts';
import { ApplyPatchType, managerOptions, readApplyPatch } from './apply-request.ts';
import { serveOpenApi } from './openapi-http.ts';
import { servePodLog } from './pod-log.ts';
import { kindSchema } from './kind-schemas.ts';
import { deleteQuery, dryRunQuery, listQuery, queryBool, queryInt, watchQuery } from './query.ts';
import { checkSchema, parseFieldValidation } from './schema-check.ts';
import { ApiError, badRequest, internal, methodNotAllowed, pathNotFound } from './status.ts';
import { toTable, wantsTable } from './table.ts';
import { createUploadToken } from './upload-token-request.ts';
import { serveWatch } from './watch.ts';
import { serveVmSubresource, SubresourceGroup } from './vm-subresources.ts';

/**
 * Maps Kubernetes REST paths and verbs onto the object service:
 *   /api/v1/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]
 *   /apis/<group>/<version>/[namespaces/<ns>/]<plural>[/<name>[/<subresource>]]
 * plus discovery, /version, health and the OpenAPI documents (/openapi/v2, /openapi/v3).
 */
export interface RouterOptions {
  service: ObjectService;
  auth: ApiAuth;
  webhooks: WebhookDispatcher;
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

/** The RBAC verb of a request (kube-apiserver's RequestInfo): list/watch on collections, get on pods/log. */
function verbOf(method: string, t: Target, q: URLSearchParams): string {
  if (t.subresource === 'log') return 'get';
  switch (method) {
    case 'GET':
      return queryBool(q, 'watch') ? 'watch' : t.name === undefined ? 'list' : 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'DELETE':
      return t.name === undefined ? 'deletecollection' : 'delete';
    default:
      return method.toLowerCase();
  }
}

/** A path segment; a malformed escape (%ZZ) is the client's error, as Go's URL parser reports it. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    const bad = /%(?![0-9a-fA-F]{2})[^%]{0,2}/.exec(segment)?.[0] ?? segment;
    throw badRequest(`invalid URL escape ${JSON.stringify(bad)}`);
  }
}

/** kube-apiserver's `Warning: 299 - "<text>"` headers, one per warning. */
function setWarnings(res: ServerResponse, warnings: readonly string[]): void {
  if (warnings.length === 0) return;
  res.setHeader('Warning', [...new Set(warnings)].map((w) => `299 - "${w.replace(/["\\]/g, (c) => `\\${c}`)}"`));
}

export function createRouter(o: RouterOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { service } = o;
  /** Replies once every write so far is durable: nothing uncommitted is ever acknowledged. */
  const reply = async (res: ServerResponse, status: number, body: unknown): Promise<void> => {
    await service.store.settled();
    sendJson(res, status, body);
  };

  async function serveCreateOnly(info: KindInfo, namespace: string | undefined, user: UserInfo, body: unknown): Promise<unknown> {
    switch (info.plural) {
      case 'selfsubjectaccessreviews':
        return selfSubjectAccessReview(o.auth.rbac, info, user, body);
      case 'subjectaccessreviews':
        return subjectAccessReview(o.auth.rbac, info, body);
      case 'selfsubjectrulesreviews':
        return selfSubjectRulesReview(o.auth.rbac, info, user, body);
      default:
        if (namespace === undefined) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
        return createUploadToken(info, namespace, body, o.uploadSigningKey);
    }
  }

  async function serveResource(t: Target, req: IncomingMessage, res: ServerResponse, q: URLSearchParams, user: UserInfo): Promise<void> {
    const { info, namespace, name, subresource } = t;
    const method = req.method ?? 'GET';
    if (subresource !== undefined && !(info.subresources as string[]).includes(subresource)) throw pathNotFound(req.url ?? '');
    o.auth.require(user, resourceAttributes({ verb: verbOf(method, t, q), apiGroup: info.group, resource: info.plural, subresource: subresource ?? '', namespace: namespace ?? '', name: name ?? '' }));
    if (info.createOnly) {
      if (method !== 'POST' || name !== undefined) throw methodNotAllowed(`the server does not allow this method on the requested resource`);
      const duplicates: string[] = [];
      const body = checkTypeMeta(info, await readJson(req, { protobuf: `${apiVersionOf(info)}/${info.kind}` in protobufKinds, duplicates }));
      const checked = checkSchema(info, kindSchema(info), body, parseFieldValidation(q.get('fieldValidation')), duplicates);
      setWarnings(res, checked.warnings);
      return reply(res, 201, await serveCreateOnly(info, namespace, user, checked.object));
    }
    const table = wantsTable(req.headers.accept);
    const warnings: string[] = [];
    const duplicates: string[] = [];
    // Creates and updates of built-in kinds may come as protobuf, custom resources may not; any DELETE may carry DeleteOptions.
    const protobuf = `${apiVersionOf(info)}/${info.kind}` in protobufKinds || method === 'DELETE';
    const body = () => readJson(req, { protobuf, duplicates });
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
    const writeOpts = (verb: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions') => ({
      ...managerOptions(verb, q, req.headers['user-agent'], verb === 'PatchOptions' && contentType === ApplyPatchType),
      ...(subresource === 'status' ? { subresource: 'status' as const } : {}),
      ...(dryRunQuery(q, verb) ? { dryRun: true } : {}),
      fieldValidation: parseFieldValidation(q.get('fieldValidation')),
      warnings,
      duplicates,
    });
    const admission = { rbac: o.auth.rbac, service, webhooks: o.webhooks };
    const write = (operation: WriteRequest['operation'], objectName: string): WriteRequest => ({
      user,
      info,
      namespace,
      name: objectName,
      subresource: subresource ?? '',
      operation,
      dryRun: operation === 'DELETE' ? q.getAll('dryRun').length > 0 : dryRunQuery(q, operation === 'CREATE' ? 'CreateOptions' : 'UpdateOptions'),
    });
    /** Validating webhooks see the object as it would be stored: computed by a dry run, only when any is registered. */
    const validated = async (w: WriteRequest, planned: () => unknown, old: KubeObject | undefined): Promise<void> => {
      if (o.webhooks.validatingConfigured) await validateWrite(admission, w, planned() as KubeObject, old);
    };
    const replyWarned = (status: number, result: unknown): Promise<void> => {
      setWarnings(res, warnings);
      return reply(res, status, result);
    };
    if (subresource === 'token') {
      if (method !== 'POST') throw methodNotAllowed('only POST is allowed on serviceaccounts/token');
      const sa = service.get(info, namespace, name!);
      return reply(res, 201, await createServiceAccountToken(o.auth.serviceAccountKeys, sa, await body()));
    }
    if (subresource === 'log') {
      if (method !== 'GET') throw methodNotAllowed('only GET is allowed on pods/log');
      return servePodLog(service, pods, o.dataDir, namespace ?? '', name!, req, res, {
        container: q.get('container'),
        follow: queryBool(q, 'follow'),
        previous: queryBool(q, 'previous'),
        tailLines: queryInt(q, 'tailLines'),
        limitBytes: queryInt(q, 'limitBytes'),
      });
    }
    if (name === undefined) {
      switch (method) {
        case 'GET': {
          if (queryBool(q, 'watch')) {
            const params = watchQuery(q);
            // Start from committed state only: the batch in flight reaches the watch as events.
            await service.store.settled();
            return serveWatch(service, info, req, res, { ...params, namespace, table, bookmarkIntervalMs: o.bookmarkIntervalMs });
          }
          const list = service.list(info, namespace, listQuery(q));
          if (table) return reply(res, 200, toTable(info, list.items, list.resourceVersion, list.continue));
          return reply(res, 200, {
            kind: `${info.kind}List`,
            apiVersion: apiVersionOf(info),
            metadata: { resourceVersion: list.resourceVersion, ...(list.continue ? { continue: list.continue } : {}) },
            items: list.items,
          });
        }
        case 'POST': {
          const obj = (await body()) as KubeObject;
          const w = write('CREATE', obj?.metadata?.name ?? '');
          const admitted = await admitWrite(admission, w, obj, undefined);
          await validated(w, () => service.create(info, namespace, admitted, { ...writeOpts('CreateOptions'), dryRun: true, warnings: [] }), undefined);
          return replyWarned(201, service.create(info, namespace, admitted, writeOpts('CreateOptions')));
        }
        case 'DELETE': {
          const options = await body();
          const items = service.deleteCollection(info, namespace, listQuery(q), deleteQuery(q, options));
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
      case 'PUT': {
        const obj = (await body()) as KubeObject;
        const old = service.find(info, namespace, name);
        const w = write(old ? 'UPDATE' : 'CREATE', name);
        const admitted = await admitWrite(admission, w, obj, old);
        await validated(w, () => service.update(info, namespace, name, admitted, { ...writeOpts('UpdateOptions'), dryRun: true, warnings: [] }), old);
        return replyWarned(200, service.update(info, namespace, name, admitted, writeOpts('UpdateOptions')));
      }
      case 'PATCH': {
        const opts = writeOpts('PatchOptions');
        // Who may write what depends on the patched result: compute it without writing, admit it, then write.
        // A mutating webhook's change is written as an update of the patched result, with its resourceVersion as precondition.
        const old = service.find(info, namespace, name);
        if (contentType === ApplyPatchType) {
          const config = await readApplyPatch(req, info);
          const planned = service.apply(info, namespace, name, config, { ...opts, dryRun: true, warnings: [] });
          const w = write(planned.created ? 'CREATE' : 'UPDATE', name);
          const admitted = await admitWrite(admission, w, planned.object, old);
          await validated(w, () => admitted, old);
          if (admitted !== planned.object) return replyWarned(planned.created ? 201 : 200, planned.created ? service.create(info, namespace, admitted, opts) : service.update(info, namespace, name, admitted, opts));
          const applied = service.apply(info, namespace, name, config, opts);
          return replyWarned(applied.created ? 201 : 200, applied.object);
        }
        const patch = await readJson(req);
        const result = service.patch(info, namespace, name, req.headers['content-type'] ?? '', patch, { ...opts, dryRun: true, warnings: [] });
        const w = write('UPDATE', name);
        const admitted = await admitWrite(admission, w, result, old);
        await validated(w, () => admitted, old);
        if (admitted !== result) return replyWarned(200, service.update(info, namespace, name, admitted, opts));
        return replyWarned(200, service.patch(info, namespace, name, req.headers['content-type'] ?? '', patch, opts));
      }
      case 'DELETE': {
        if (subresource) throw methodNotAllowed('DELETE is not allowed on the status subresource');
        const current = service.find(info, namespace, name);
        if (current) await admitDelete(admission, write('DELETE', name), current);
        const obj = service.delete(info, namespace, name, deleteQuery(q, await body()));
        // An object its finalizers keep is answered as is; one removed (or that a dry run would remove), with a Success Status.
        const kept = obj.metadata?.deletionTimestamp !== undefined;
        return reply(res, 200, kept ? obj : successStatus({ name, ...(info.group ? { group: info.group } : {}), kind: info.plural, uid: obj.metadata?.uid }));
      }
      default:
        throw methodNotAllowed(`method ${method} is not allowed`);
    }
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const parts = url.pathname.split('/').filter((s) => s !== '').map(decodeSegment);
    const q = url.searchParams;
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/healthz' || path === '/livez') return sendText(res, 200, 'ok');
    if (path === '/readyz') return o.isReady() ? sendText(res, 200, 'ok') : sendText(res, 503, 'not ready');
    const user = await o.auth.authenticate(req);
    const resourcePath = (parts[0] === 'api' && parts.length > 2) || (parts[0] === 'apis' && parts.length > 3);
    if (!resourcePath) o.auth.require(user, nonResource((req.method ?? 'GET').toLowerCase(), path));
    if (path === '/version') return sendJson(res, 200, versionInfo);
    if (path === '/openapi/v2' || path === '/openapi/v3' || path.startsWith('/openapi/v3/')) return serveOpenApi(req, res, path, q);
    if (path === '/api') return sendJson(res, 200, coreVersions(o.serverAddress()));
    if (path === '/apis') return sendJson(res, 200, groupList());
    if (parts[0] === 'api' && parts[1] === 'v1') {
      if (parts.length === 2) return sendJson(res, 200, resourceList('', 'v1'));
      const t = resolve('', 'v1', parts.slice(2));
      if (t) return serveResource(t, req, res, q, user);
    }
    if (parts[0] === 'apis' && parts[1] === SubresourceGroup && parts[2] === 'v1' && parts[3] === 'namespaces' && parts[5] === 'virtualmachines' && parts.length === 8) {
      return serveVmSubresource(service, o.auth, user, req, res, parts[4]!, parts[6]!, parts[7]!);
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
        if (t) return serveResource(t, req, res, q, user);
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
