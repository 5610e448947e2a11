import { MaxJsonDepth } from './http.ts';
import { badRequest, ApiError } from './status.ts';

/**
 * The three patch types kubectl and client libraries send: JSON merge patch (RFC 7386), JSON patch
 * (RFC 6902) and strategic merge patch, the latter as far as `kubectl apply` of our kinds needs:
 * maps merge, lists with a known merge key merge by it, other lists are replaced, and the
 * `$patch`, `$retainKeys`, `$setElementOrder` and `$deleteFromPrimitiveList` directives are honoured
 * or dropped.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

export const PatchTypes = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  apply: 'application/apply-patch+yaml',
} as const;

const isObject = (v: unknown): v is JsonObject => v !== null && typeof v === 'object' && !Array.isArray(v);

export function mergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k] ?? null, v);
  }
  return out;
}

function unescapePointer(token: string): string {
  return token.replace(/~1/g, '/').replace(/~0/g, '~');
}

function parsePointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw badRequest(`invalid JSON pointer: ${path}`);
  return path.slice(1).split('/').map(unescapePointer);
}

function containerAt(doc: Json, tokens: string[], path: string): Json {
  let cur = doc;
  for (const t of tokens) {
    if (Array.isArray(cur)) cur = cur[Number(t)] as Json;
    else if (isObject(cur) && Object.hasOwn(cur, t)) cur = cur[t]!;
    else throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: path ${path} does not exist`);
    if (cur === undefined) throw new ApiError(422, 'Invalid', `path ${path} does not exist`);
  }
  return cur;
}

function arrayIndex(arr: Json[], token: string, forInsert: boolean, path: string): number {
  if (forInsert && token === '-') return arr.length;
  const i = Number(token);
  if (!/^\d+$/.test(token) || i > arr.length || (!forInsert && i === arr.length)) {
    throw new ApiError(422, 'Invalid', `index ${token} out of bounds at ${path}`);
  }
  return i;
}

function addAt(doc: Json, path: string, value: Json): Json {
  const tokens = parsePointer(path);
  if (tokens.length === 0) return value;
  const last = tokens.pop()!;
  const parent = containerAt(doc, tokens, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, last, true, path), 0, value);
  else if (isObject(parent)) parent[last] = value;
  else throw new ApiError(422, 'Invalid', `cannot add at ${path}`);
  return doc;
}

function removeAt(doc: Json, path: string): { doc: Json; removed: Json } {
  const tokens = parsePointer(path);
  const last = tokens.pop();
  if (last === undefined) return { doc: null, removed: doc };
  const parent = containerAt(doc, tokens, path);
  if (Array.isArray(parent)) {
    const [removed] = parent.splice(arrayIndex(parent, last, false, path), 1);
    return { doc, removed: removed! };
  }
  if (isObject(parent) && Object.hasOwn(parent, last)) {
    const removed = parent[last]!;
    delete parent[last];
    return { doc, removed };
  }
  throw new ApiError(422, 'Invalid', `the server rejected our request: unable to remove nonexistent key: ${last}`);
}

function deepEqual(a: Json, b: Json): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** kube-apiserver's maxJSONPatchOperations and --json-patch-max-copy-bytes default (3 MiB). */
export const MaxJsonPatchOperations = 10_000;
export const MaxJsonPatchCopyBytes = 3 * 1024 * 1024;

/** How kube-apiserver answers a JSON patch that fails to apply: 422, json-patch's text as the cause. */
const patchFailed = (message: string): ApiError =>
  new ApiError(422, 'Invalid', 'the server rejected our request due to an error in our request', { causes: [{ reason: 'UnexpectedServerResponse', message }] });

export function jsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw badRequest('json patch must be an array of operations');
  if (ops.length > MaxJsonPatchOperations) {
    throw new ApiError(413, 'RequestEntityTooLarge', `The allowed maximum operations in a JSON patch is ${MaxJsonPatchOperations}, got ${ops.length}`);
  }
  // Each copy may double the document (19 of them took 1 KiB to gigabytes): copies are metered.
  let copied = 0;
  let doc = structuredClone(target);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw badRequest('invalid json patch operation');
    const { op, path } = raw;
    const value = (raw.value ?? null) as Json;
    switch (op) {
      case 'add':
        checkPlacedDepth(path, value);
        doc = addAt(doc, path, structuredClone(value));
        break;
      case 'remove':
        doc = removeAt(doc, path).doc;
        break;
      case 'replace':
        checkPlacedDepth(path, value);
        doc = addAt(removeAt(doc, path).doc, path, structuredClone(value));
        break;
      case 'move':
      case 'copy': {
        if (typeof raw.from !== 'string') throw badRequest(`${op} needs from`);
        const moved = op === 'move' ? removeAt(doc, raw.from) : { doc, removed: containerAt(doc, parsePointer(raw.from), raw.from) };
        checkPlacedDepth(path, moved.removed);
        if (op === 'copy') {
          copied += Buffer.byteLength(JSON.stringify(moved.removed));
          if (copied > MaxJsonPatchCopyBytes) {
            throw patchFailed(`Unable to complete the copy, the accumulated size increase of copy is ${copied}, exceeding the limit ${MaxJsonPatchCopyBytes}`);
          }
        }
        doc = addAt(moved.doc, path, structuredClone(moved.removed));
        break;
      }
      case 'test':
        if (!deepEqual(containerAt(doc, parsePointer(path), path), value)) {
          throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: testing value ${path} failed`);
        }
        break;
      default:
        throw badRequest(`unknown json patch op ${op}`);
    }
  }
  return doc;
}

/** How deep a value nests, walked without recursion. */
function depthOf(value: Json): number {
  let max = 0;
  const stack: Array<[Json, number]> = [[value, 0]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    max = Math.max(max, d + 1);
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return max;
}

/** A value placed at `path` keeps the document within the body depth limit (copies into themselves would not). */
function checkPlacedDepth(path: string, value: Json): void {
  if (parsePointer(path).length + depthOf(value) > MaxJsonDepth) throw patchFailed("invalid character '{' exceeded max depth");
}

/** Merge keys of the core lists kubectl apply touches (from the Kubernetes types' patchMergeKey). */
const mergeKeys: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  imagePullSecrets: 'name',
  ownerReferences: 'uid',
  conditions: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  // Validating/MutatingWebhookConfiguration: kubectl apply sends a changed webhook as {name, …the change}.
  webhooks: 'name',
};

function portKey(items: Json[]): string | undefined {
  const first = items.find(isObject);
  if (!first) return undefined;
  return 'containerPort' in first ? 'containerPort' : 'port';
}

function mergeList(field: string, target: Json[], patch: Json[]): Json[] {
  const key = field === 'ports' ? portKey([...patch, ...target]) : mergeKeys[field];
  if (!key) return patch.filter((p) => !(isObject(p) && p.$patch !== undefined));
  if (patch.some((p) => isObject(p) && p.$patch === 'replace')) {
    return patch.filter((p) => !(isObject(p) && p.$patch === 'replace'));
  }
  const out = [...target];
  for (const item of patch) {
    if (!isObject(item)) continue;
    const idx = out.findIndex((t) => isObject(t) && t[key] === item[key]);
    if (item.$patch === 'delete') {
      if (idx >= 0) out.splice(idx, 1);
    } else if (idx >= 0) out[idx] = strategicMergePatch(out[idx]!, item);
    else out.push(strategicMergePatch({}, item));
  }
  return out;
}

export function strategicMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return patch;
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return rest;
  }
  if (patch.$patch === 'delete') return null;
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys' || k.startsWith('$setElementOrder/')) continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(v)) out[field] = current.filter((x) => !v.some((d) => deepEqual(d, x)));
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(k, Array.isArray(out[k]) ? (out[k] as Json[]) : [], v);
    else if (isObject(v)) {
      const merged = strategicMergePatch(out[k] ?? null, v);
      if (merged === null) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  if (Array.isArray(patch.$retainKeys)) {
    const keep = new Set(patch.$retainKeys.map(String));
    for (const k of Object.keys(out)) if (!keep.has(k) && !(k in patch)) delete out[k];
  }
  return out;
}

export function applyPatch(contentType: string, target: unknown, patch: unknown): unknown {
  const type = contentType.split(';')[0]!.trim();
  switch (type) {
    case PatchTypes.merge:
      return mergePatch(target as Json, patch as Json);
    case PatchTypes.json:
      return jsonPatch(target as Json, patch as Json);
    case PatchTypes.strategic:
      return strategicMergePatch(target as Json, patch as Json);
    default:
      throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${Object.values(PatchTypes).join(', ')}`);
  }
}
