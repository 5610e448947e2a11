import { createHash } from 'node:crypto';
import { ObjectMetaFullSchema } from '../api/builtin-schemas.ts';
import type { JsonSchema } from '../api/schema.ts';
import { versionInfo } from './discovery.ts';
import { kindSchema } from './kind-schemas.ts';
import { apiVersionOf, kinds, type KindInfo } from './kinds.ts';

/**
 * The OpenAPI documents kube-apiserver serves, built from the served kinds' schemas:
 * /openapi/v2 (Swagger 2.0; kubectl 1.20 explains and validates with it) and /openapi/v3, one
 * document per group-version (kubectl 1.27+ explains with it, and looks for `fieldValidation`
 * among a kind's PATCH parameters to decide that the server validates). Every kind's root
 * schema and operations carry `x-kubernetes-group-version-kind`, which is how kubectl finds them.
 */
type Json = Record<string, unknown>;
type Version = 2 | 3;

const MetaPrefix = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const ObjectMetaName = `${MetaPrefix}.ObjectMeta`;
const StatusName = `${MetaPrefix}.Status`;

/** `io.k8s.api.core.v1.Pod`, `io.k8s.api.storage.v1.StorageClass`, `io.kubevirt.cdi.v1beta1.DataVolume`. */
export function definitionName(info: KindInfo, kind = info.kind): string {
  const prefix =
    info.group === '' || info.group.endsWith('.k8s.io')
      ? `io.k8s.api.${info.group.replace(/\.k8s\.io$/, '') || 'core'}`
      : info.group.split('.').reverse().join('.');
  return `${prefix}.${info.version}.${kind}`;
}

const refTo = (v: Version, name: string): string => (v === 2 ? `#/definitions/${name}` : `#/components/schemas/${name}`);
const gvk = (info: KindInfo, kind = info.kind) => ({ group: info.group, version: info.version, kind });

/** A schema as published: metadata by reference, and (v2) kept subtrees without a structure. */
function publish(s: JsonSchema, v: Version): Json {
  if (s === ObjectMetaFullSchema) {
    const description = 'Standard object metadata.';
    return v === 2 ? { $ref: refTo(v, ObjectMetaName), description } : { allOf: [{ $ref: refTo(v, ObjectMetaName) }], description, default: {} };
  }
  if (v === 2 && s['x-kubernetes-preserve-unknown-fields']) {
    // Swagger 2.0 clients (kubectl 1.20) reject unknown fields of a typed object: publish these untyped.
    const { type: _t, properties: _p, additionalProperties: _a, required: _r, ...rest } = s;
    return { ...rest };
  }
  const out: Json = { ...s };
  if (s.properties) out.properties = Object.fromEntries(Object.entries(s.properties).map(([k, p]) => [k, publish(p, v)]));
  if (s.items) out.items = publish(s.items, v);
  if (s.additionalProperties) out.additionalProperties = publish(s.additionalProperties, v);
  return out;
}

const metaSchemas = (v: Version): Record<string, Json> => ({
  [ObjectMetaName]: publish({ ...ObjectMetaFullSchema }, v),
  [StatusName]: {
    description: 'Status is the return value of calls that do not return other objects.',
    type: 'object',
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      status: { type: 'string', description: 'Success or Failure.' },
      message: { type: 'string', description: 'Human-readable description of the status.' },
      reason: { type: 'string', description: 'Machine-readable description of why the operation failed.' },
      details: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'Extended data about the reason.' },
      code: { type: 'integer', format: 'int32', description: 'Suggested HTTP return code.' },
    },
    'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Status' }],
  },
});

function kindSchemas(info: KindInfo, v: Version): Record<string, Json> {
  const root = publish(kindSchema(info).schema, v);
  const schemas: Record<string, Json> = { [definitionName(info)]: { ...root, 'x-kubernetes-group-version-kind': [gvk(info)] } };
  if (!info.createOnly) {
    schemas[definitionName(info, `${info.kind}List`)] = {
      description: `${info.kind}List is a list of ${info.kind} objects.`,
      type: 'object',
      required: ['items'],
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { type: 'object', description: 'Standard list metadata: resourceVersion and continue.', 'x-kubernetes-preserve-unknown-fields': true },
        items: { type: 'array', items: { $ref: refTo(v, definitionName(info)) } },
      },
      'x-kubernetes-group-version-kind': [gvk(info, `${info.kind}List`)],
    };
  }
  return schemas;
}

interface Param {
  name: string;
  in: 'query' | 'path';
  type: 'string' | 'boolean' | 'integer';
  description: string;
  required?: true;
}

const q = (name: string, type: Param['type'], description: string): Param => ({ name, in: 'query', type, description });
const writeParams = [
  q('dryRun', 'string', 'When present (All), the request is admitted and answered but nothing is stored.'),
  q('fieldManager', 'string', 'Name of the actor making the change, recorded in managedFields.'),
  q('fieldValidation', 'string', 'What to do with unknown fields: Ignore, Warn (default) or Strict.'),
];
const listParams = [
  q('labelSelector', 'string', 'Only objects whose labels match.'),
  q('fieldSelector', 'string', 'Only objects whose fields match.'),
  q('limit', 'integer', 'At most this many items; the rest via continue.'),
  q('continue', 'string', 'The continue token of the previous page.'),
  q('resourceVersion', 'string', 'List or watch from this resourceVersion.'),
  q('watch', 'boolean', 'Stream changes instead of listing.'),
  q('allowWatchBookmarks', 'boolean', 'Send BOOKMARK events while watching.'),
  q('timeoutSeconds', 'integer', 'End the list or watch after this many seconds.'),
];
const deleteParams = [
  q('dryRun', 'string', 'When present (All), nothing is deleted.'),
  q('gracePeriodSeconds', 'integer', 'Seconds before the object is deleted.'),
  q('propagationPolicy', 'string', 'Orphan, Background or Foreground: what happens to dependents.'),
];

const PatchTypes = ['application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/apply-patch+yaml'];

function parameter(p: Param, v: Version): Json {
  const base = { name: p.name, in: p.in, description: p.description, ...(p.required ? { required: true } : {}) };
  return v === 2 ? { ...base, type: p.type, uniqueItems: true } : { ...base, schema: { type: p.type, uniqueItems: true } };
}

interface OperationSpec {
  verb: string;
  action: string;
  info: KindInfo;
  kind: string;
  status: number;
  params: Param[];
  body?: 'object' | 'patch';
  response: string;
}

function pascal(s: string): string {
  return s
    .split(/[.-]/)
    .map((p) => (p ? p[0]!.toUpperCase() + p.slice(1) : p))
    .join('');
}

function operation(o: OperationSpec, v: Version): Json {
  const { info } = o;
  const gv = info.group ? `${pascal(info.group)}${pascal(info.version)}` : 'CoreV1';
  const scope = info.namespaced && o.verb !== 'listForAllNamespaces' ? 'Namespaced' : '';
  const verb = o.verb === 'listForAllNamespaces' ? 'list' : o.verb;
  const suffix = o.verb === 'listForAllNamespaces' ? 'ForAllNamespaces' : '';
  const bodySchema = o.body === 'patch' ? { type: 'object', description: 'The patch.' } : { $ref: refTo(v, definitionName(info)) };
  const response = { description: 'OK', ...(v === 2 ? { schema: { $ref: refTo(v, o.response) } } : { content: { 'application/json': { schema: { $ref: refTo(v, o.response) } } } }) };
  const op: Json = {
    tags: [info.group ? `${info.group.replace(/\./g, '_')}_${info.version}` : 'core_v1'],
    description: `${o.action} ${o.kind}`,
    operationId: `${verb}${gv}${scope}${o.kind}${suffix}`,
    parameters: o.params.map((p) => parameter(p, v)),
    responses: { [String(o.status)]: response, '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': o.action,
    'x-kubernetes-group-version-kind': gvk(info),
  };
  if (o.body) {
    const consumes = o.body === 'patch' ? PatchTypes : ['application/json', 'application/yaml'];
    if (v === 2) {
      op.consumes = consumes;
      (op.parameters as Json[]).unshift({ name: 'body', in: 'body', required: true, schema: bodySchema });
    } else {
      op.requestBody = { required: true, content: Object.fromEntries(consumes.map((c) => [c, { schema: bodySchema }])) };
    }
  }
  if (v === 2) {
    op.produces = ['application/json', 'application/yaml'];
    op.schemes = ['https'];
  }
  return op;
}

function kindPaths(info: KindInfo, v: Version): Record<string, Json> {
  const prefix = info.group ? `/apis/${info.group}/${info.version}` : '/api/v1';
  const collection = info.namespaced ? `${prefix}/namespaces/{namespace}/${info.plural}` : `${prefix}/${info.plural}`;
  const own = definitionName(info);
  const list = definitionName(info, `${info.kind}List`);
  const nsParam: Param[] = info.namespaced ? [{ name: 'namespace', in: 'path', type: 'string', description: 'Object name and auth scope, such as for teams and projects', required: true }] : [];
  const nameParam: Param = { name: 'name', in: 'path', type: 'string', description: `name of the ${info.kind}`, required: true };
  const op = (verb: string, action: string, status: number, params: Param[], response: string, body?: OperationSpec['body'], kind = info.kind) =>
    operation({ verb, action, info, kind, status, params, response, ...(body ? { body } : {}) }, v);
  const pathItem = (params: Param[], ops: Json): Json => ({ ...ops, parameters: params.map((p) => parameter(p, v)) });

  if (info.createOnly) return { [collection]: pathItem(nsParam, { post: op('create', 'post', 201, writeParams, own, 'object') }) };
  const paths: Record<string, Json> = {
    [collection]: pathItem(nsParam, {
      get: op('list', 'list', 200, listParams, list),
      post: op('create', 'post', 201, writeParams, own, 'object'),
      delete: op('deleteCollection', 'deletecollection', 200, [...deleteParams, ...listParams], StatusName),
    }),
    [`${collection}/{name}`]: pathItem([...nsParam, nameParam], {
      get: op('read', 'get', 200, [], own),
      put: op('replace', 'put', 200, writeParams, own, 'object'),
      patch: op('patch', 'patch', 200, [...writeParams, q('force', 'boolean', 'Take over fields other managers own (apply patches only).')], own, 'patch'),
      delete: op('delete', 'delete', 200, deleteParams, StatusName),
    }),
  };
  if (info.subresources.includes('status')) {
    paths[`${collection}/{name}/status`] = pathItem([...nsParam, nameParam], {
      get: op('read', 'get', 200, [], own, undefined, `${info.kind}Status`),
      put: op('replace', 'put', 200, writeParams, own, 'object', `${info.kind}Status`),
      patch: op('patch', 'patch', 200, [...writeParams, q('force', 'boolean', 'Take over fields other managers own (apply patches only).')], own, 'patch', `${info.kind}Status`),
    });
  }
  if (info.namespaced) paths[`${prefix}/${info.plural}`] = { get: op('listForAllNamespaces', 'list', 200, listParams, list) };
  return paths;
}

const info = { title: 'Kubernetes', version: versionInfo.gitVersion };

export function openapiV2(): Json {
  const definitions: Record<string, Json> = { ...metaSchemas(2) };
  const paths: Record<string, Json> = {};
  for (const k of kinds) {
    Object.assign(definitions, kindSchemas(k, 2));
    Object.assign(paths, kindPaths(k, 2));
  }
  return { swagger: '2.0', info, paths, definitions };
}

/** The v3 document of one group-version: `api/v1`, `apis/cdi.kubevirt.io/v1beta1`, ... */
export function openapiV3(groupVersionPath: string): Json | undefined {
  const served = kinds.filter((k) => (k.group ? `apis/${apiVersionOf(k)}` : `api/${k.version}`) === groupVersionPath);
  if (served.length === 0) return undefined;
  const schemas: Record<string, Json> = { ...metaSchemas(3) };
  const paths: Record<string, Json> = {};
  for (const k of served) {
    Object.assign(schemas, kindSchemas(k, 3));
    Object.assign(paths, kindPaths(k, 3));
  }
  return { openapi: '3.0.0', info, paths, components: { schemas } };
}

export function groupVersionPaths(): string[] {
  return [...new Set(kinds.map((k) => (k.group ? `apis/${apiVersionOf(k)}` : `api/${k.version}`)))];
}

/** kube-apiserver's document hash: SHA-512 of the served bytes, upper-case hex. */
export function documentHash(bytes: Buffer): string {
  return createHash('sha512').update(bytes).digest('hex').toUpperCase();
}
