import { checkConfigDataUpdate, normalizeConfigData } from './config-data.ts';
import { applyDefaults } from './defaults.ts';
import { findKind, resourceKey, type KindInfo, type KubeObject, type ObjectMeta } from './kinds.ts';
import { checkTypeMeta, nowTimestamp, prepareCreate, prepareUpdate, unchanged } from './metadata.ts';
import { applyPatch } from './patch.ts';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { normalizeTypedFields } from './typed-fields.ts';
import { ApiError, alreadyExists, badRequest, conflict, gone, notFound } from './status.ts';
import { kindSchema } from './kind-schemas.ts';
import { applyConfiguration, recordUpdate, type ManagedFieldsEntry } from './managed-fields.ts';
import { checkSchema, type FieldValidation } from './schema-check.ts';
import type { ObjectStore } from './store.ts';
import type { Validator } from './validate.ts';
import type { EventType, WatchHub } from './watch-hub.ts';

/**
 * Kubernetes object semantics over the generic store: create/get/list/update/patch/delete with
 * resourceVersion preconditions, the status subresource, generation, finalizers and
 * deletionTimestamp. Every write commits, then publishes its watch event.
 */
export interface ListOptions {
  labelSelector?: string | null;
  fieldSelector?: string | null;
  limit?: number;
  continue?: string | null;
  /** The state the list must show: not older than this one, or (Exact) this one. */
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
}

export type Propagation = 'Background' | 'Foreground' | 'Orphan';

/** `dryRun`: admit and compute the result as if written, write nothing (kubectl --dry-run=server). */
export interface WriteOptions {
  subresource?: 'status';
  dryRun?: boolean;
  /** What unknown fields get: refused, dropped with a warning (the default), or dropped. */
  fieldValidation?: FieldValidation;
  /** Receives the warnings for the response's `Warning` headers. */
  warnings?: string[];
  /** Paths of keys the request body repeated (JSON parsing kept the last). */
  duplicates?: readonly string[];
  /** Who the write is recorded under in managedFields (fieldManager or the User-Agent's product). */
  manager?: string;
}

export interface ApplyOptions extends WriteOptions {
  /** Take the fields other managers own instead of failing with a conflict. */
  force?: boolean;
}

/** A write whose managedFields an apply has already worked out. */
interface InternalWriteOptions extends WriteOptions {
  managed?: ManagedFieldsEntry[];
}

/** Writes of the server's own components that name no manager. */
export const DefaultManager = 'cdi-serve';

export interface DeleteOptions {
  dryRun?: boolean;
  propagationPolicy?: Propagation;
  /** Recorded as deletionGracePeriodSeconds on objects whose finalizers keep them. */
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

export interface ListResult {
  items: KubeObject[];
  resourceVersion: string;
  continue?: string;
}

/**
 * etcd's default --max-request-bytes (1.5 MiB): kube-apiserver cannot store a larger object and
 * answers "etcdserver: request is too large"; here it is the bound on any object a patch builds.
 */
export const MaxStoredObjectBytes = 1536 * 1024;
function checkSize(json: string): void {
  if (json.length > MaxStoredObjectBytes / 3 && Buffer.byteLength(json) > MaxStoredObjectBytes) {
    throw new ApiError(413, 'RequestEntityTooLarge', 'etcdserver: request is too large');
  }
}

export const ForegroundFinalizer = 'foregroundDeletion';
export const OrphanFinalizer = 'orphan';
const namespaces = findKind('', 'v1', 'namespaces')!;
const InitialStatus: Record<string, Record<string, string>> = {
  Namespace: { phase: 'Active' },
  PersistentVolumeClaim: { phase: 'Pending' },
  Pod: { phase: 'Pending' },
};

/** A continue token: where the last page ended and the resourceVersion the first page was listed at. */
interface ContinueToken {
  namespace: string;
  name: string;
  rv: number;
}

function decodeContinue(token: string): ContinueToken {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { ns: unknown; n: unknown; rv: unknown };
    if (typeof parsed.ns !== 'string' || typeof parsed.n !== 'string' || !Number.isSafeInteger(parsed.rv)) throw new Error('shape');
    return { namespace: parsed.ns, name: parsed.n, rv: parsed.rv as number };
  } catch {
    throw badRequest('continue key is not valid: invalid token');
  }
}

const encodeContinue = (t: ContinueToken): string => Buffer.from(JSON.stringify({ ns: t.namespace, n: t.name, rv: t.rv })).toString('base64url');

const ContinueExpired =
  'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.';

export class ObjectService {
  readonly store: ObjectStore;
  readonly hub: WatchHub;
  private readonly validate: Validator;

  constructor(store: ObjectStore, hub: WatchHub, validate: Validator) {
    this.store = store;
    this.hub = hub;
    this.validate = validate;
  }

  private nsOf(info: KindInfo, namespace: string | undefined): string {
    return info.namespaced ? (namespace ?? '') : '';
  }

  private readonly lookup = (info: KindInfo, namespace: string, name: string): KubeObject | undefined => this.find(info, namespace, name);

  find(info: KindInfo, namespace: string | undefined, name: string): KubeObject | undefined {
    const row = this.store.get(resourceKey(info), this.nsOf(info, namespace), name);
    return row ? (JSON.parse(row.json) as KubeObject) : undefined;
  }

  get(info: KindInfo, namespace: string | undefined, name: string): KubeObject {
    const obj = this.find(info, namespace, name);
    if (!obj) throw notFound(info, name);
    return obj;
  }

  list(info: KindInfo, namespace: string | undefined, opts: ListOptions = {}): ListResult {
    const labels = parseLabelSelector(opts.labelSelector);
    const fields = parseFieldSelector(opts.fieldSelector);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    const current = this.store.currentRv;
    this.checkListVersion(opts, current);
    const after = opts.continue ? decodeContinue(opts.continue) : undefined;
    // Like a compacted etcd revision: a token older than the watch window cannot continue.
    if (after && after.rv < this.hub.oldestRv) throw new ApiError(410, 'Expired', ContinueExpired);
    const listedAt = after?.rv ?? current;
    const rv = String(listedAt);
    const items: KubeObject[] = [];
    const range = {
      resource: resourceKey(info),
      ...(info.namespaced && namespace !== undefined ? { namespace } : {}),
      ...(after ? { after } : {}),
    };
    let last: { namespace: string; name: string } | undefined;
    let more = false;
    for (const row of this.store.list(range)) {
      if (items.length >= limit) {
        more = true;
        break;
      }
      const obj = JSON.parse(row.json) as KubeObject;
      last = { namespace: row.namespace, name: row.name };
      if (labels(obj) && fields(obj)) items.push(obj);
    }
    return { items, resourceVersion: rv, ...(more && last ? { continue: encodeContinue({ ...last, rv: listedAt }) } : {}) };
  }

  /**
   * This store holds only the latest state: a list asking for a newer resourceVersion than exists
   * times out as kube-apiserver's does, and an Exact one for an older state is gone.
   */
  private checkListVersion(opts: ListOptions, current: number): void {
    if (opts.resourceVersion === undefined || opts.resourceVersion === '') return;
    if (!/^\d+$/.test(opts.resourceVersion)) throw badRequest(`invalid resourceVersion: ${opts.resourceVersion}`);
    const wanted = Number(opts.resourceVersion);
    if (wanted > current) {
      throw new ApiError(504, 'Timeout', `Timeout: Too large resource version: ${wanted}, current: ${current}`, {
        causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
        retryAfterSeconds: 1,
      });
    }
    if (opts.resourceVersionMatch === 'Exact' && wanted < current) throw gone(`too old resource version: ${wanted} (${current})`);
  }

  /** Commits one object change and publishes it; the object carries the new resourceVersion. */
  private commit(info: KindInfo, type: EventType, obj: KubeObject, previous: KubeObject | undefined, dryRun = false): KubeObject {
    const meta = obj.metadata as ObjectMeta;
    if (dryRun) {
      if (type !== 'DELETED') checkSize(JSON.stringify(obj));
      return obj;
    }
    const resource = resourceKey(info);
    const namespace = this.nsOf(info, meta.namespace);
    const name = meta.name!;
    // Everything that can fail happens before the row is written: a write that is committed is
    // always published, and one that fails leaves nothing behind.
    const prevJson = type === 'MODIFIED' && previous ? JSON.stringify(previous) : undefined;
    let json = '';
    const rv = this.store.write((rv, ops) => {
      meta.resourceVersion = String(rv);
      json = JSON.stringify(obj);
      if (type !== 'DELETED') checkSize(json);
      const row = { resource, namespace, name, rv, json };
      if (type === 'ADDED') ops.insert(row);
      else if (type === 'MODIFIED') ops.replace(row);
      else ops.remove(resource, namespace, name);
      return rv;
    });
    this.store.onCommit(() => this.hub.publish({ type, rv, resource, namespace, name, json, object: obj, ...(prevJson ? { prevJson, previous } : {}) }));
    return obj;
  }

  private checkNamespace(info: KindInfo, namespace: string): void {
    if (!info.namespaced) return;
    const ns = this.find(namespaces, undefined, namespace);
    if (!ns) throw notFound(namespaces, namespace);
    if (ns.metadata?.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `${info.plural} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  /** The body as its kind's schema admits it: refused (400/422) or cleaned of unknown and null fields. */
  private decode(info: KindInfo, body: unknown, opts: WriteOptions, partial = false): KubeObject {
    const checked = checkSchema(info, kindSchema(info), checkTypeMeta(info, body), opts.fieldValidation, opts.duplicates, partial);
    opts.warnings?.push(...checked.warnings);
    return checked.object;
  }

  /** Sets managedFields on `next`: as an apply worked them out, or recording this write as an Update. */
  private manage(info: KindInfo, old: KubeObject | undefined, next: KubeObject, sent: unknown, opts: InternalWriteOptions): void {
    const meta = next.metadata as ObjectMeta;
    if (opts.managed) {
      if (opts.managed.length > 0) meta.managedFields = opts.managed;
      else delete meta.managedFields;
      return;
    }
    recordUpdate(info, kindSchema(info), old, next, { manager: opts.manager ?? DefaultManager, subresource: opts.subresource }, sent);
  }

  create(info: KindInfo, namespace: string | undefined, body: unknown, opts: InternalWriteOptions = {}): KubeObject {
    const decoded = this.decode(info, body, opts);
    const sent = decoded.metadata?.managedFields;
    const obj = prepareCreate(info, this.nsOf(info, namespace), decoded);
    normalizeConfigData(info, obj);
    normalizeTypedFields(info, obj);
    applyDefaults(info, obj);
    const meta = obj.metadata as ObjectMeta;
    this.checkNamespace(info, meta.namespace ?? '');
    // Status is the server's and the controllers': a create starts from kube-apiserver's defaults.
    const initialStatus = InitialStatus[info.kind];
    if (initialStatus) obj.status = { ...initialStatus };
    else if (info.subresources.includes('status')) delete obj.status;
    this.manage(info, undefined, obj, sent, opts);
    const denied = this.validate(info, obj, undefined, this.lookup);
    if (denied) throw denied;
    if (this.store.get(resourceKey(info), meta.namespace ?? '', meta.name!)) throw alreadyExists(info, meta.name!);
    return this.commit(info, 'ADDED', obj, undefined, opts.dryRun);
  }

  /** Writes `next` over `old`: removes the object when its last finalizer went while deleting. */
  private replace(info: KindInfo, old: KubeObject, next: KubeObject, dryRun = false): KubeObject {
    if (unchanged(old, next)) return old;
    const meta = next.metadata as ObjectMeta;
    if (meta.deletionTimestamp && !meta.finalizers?.length && info.kind !== 'Namespace') return this.commit(info, 'DELETED', next, undefined, dryRun);
    return this.commit(info, 'MODIFIED', next, old, dryRun);
  }

  update(info: KindInfo, namespace: string | undefined, name: string, body: unknown, opts: InternalWriteOptions = {}): KubeObject {
    const { subresource } = opts;
    const incoming = this.decode(info, body, opts);
    const meta = incoming.metadata as ObjectMeta;
    if (meta.name !== undefined && meta.name !== name) throw badRequest('the name of the object does not match the name on the URL');
    const old = this.get(info, namespace, name);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && meta.resourceVersion !== old.metadata?.resourceVersion) {
      throw conflict(info, name);
    }
    normalizeConfigData(info, incoming);
    const sent = meta.managedFields;
    const next = prepareUpdate(info, old, incoming, subresource);
    normalizeTypedFields(info, next);
    applyDefaults(info, next);
    this.manage(info, old, next, sent, opts);
    if (subresource !== 'status') {
      const denied = checkConfigDataUpdate(info, next, old) ?? this.validate(info, next, old, this.lookup);
      if (denied) throw denied;
    }
    return this.replace(info, old, next, opts.dryRun);
  }

  patch(info: KindInfo, namespace: string | undefined, name: string, contentType: string, patch: unknown, opts: WriteOptions = {}): KubeObject {
    const old = this.get(info, namespace, name);
    const patched = applyPatch(contentType, structuredClone(old), patch) as KubeObject;
    if (patched === null || typeof patched !== 'object') throw badRequest('patch did not produce an object');
    const wanted = patched.metadata?.resourceVersion;
    if (wanted !== undefined && wanted !== old.metadata?.resourceVersion) throw conflict(info, name);
    patched.metadata = { ...patched.metadata, resourceVersion: old.metadata?.resourceVersion };
    return this.update(info, namespace, name, patched, opts);
  }

  /**
   * Server-side apply of `config` (already checked as an apply body): merged into the object, or
   * creating it when absent, as kube-apiserver does.
   */
  apply(info: KindInfo, namespace: string | undefined, name: string, config: unknown, opts: ApplyOptions = {}): { object: KubeObject; created: boolean } {
    const decoded = this.decode(info, config, opts, true);
    const meta = decoded.metadata as ObjectMeta;
    if (meta.name !== undefined && meta.name !== name) throw badRequest('the name of the object does not match the name on the URL');
    const live = this.find(info, namespace, name);
    const writer = { manager: opts.manager ?? DefaultManager, subresource: opts.subresource };
    if (!live && opts.subresource) throw notFound(info, name);
    const applied = applyConfiguration(info, kindSchema(info), live, { ...decoded, metadata: { ...meta, name } }, writer, opts.force === true);
    const managed = (applied.metadata?.managedFields ?? []) as ManagedFieldsEntry[];
    if (!live) return { object: this.create(info, namespace, applied, { ...opts, managed }), created: true };
    return { object: this.update(info, namespace, name, applied, { ...opts, managed }), created: false };
  }

  delete(info: KindInfo, namespace: string | undefined, name: string, opts: DeleteOptions = {}): KubeObject {
    const old = this.get(info, namespace, name);
    const meta = old.metadata as ObjectMeta;
    const pre = opts.preconditions;
    if ((pre?.uid && pre.uid !== meta.uid) || (pre?.resourceVersion && pre.resourceVersion !== meta.resourceVersion)) {
      throw conflict(info, name);
    }
    if (info.kind === 'Namespace' && (name === 'default' || name.startsWith('kube-'))) {
      throw new ApiError(403, 'Forbidden', `namespaces "${name}" is forbidden: this namespace may not be deleted`);
    }
    const policy = opts.propagationPolicy ?? 'Background';
    const finalizers = [...(meta.finalizers ?? [])];
    if (policy === 'Foreground' && !finalizers.includes(ForegroundFinalizer)) finalizers.push(ForegroundFinalizer);
    if (policy === 'Orphan' && !finalizers.includes(OrphanFinalizer)) finalizers.push(OrphanFinalizer);
    // Namespaces always terminate first: the garbage collector empties them, then removes them.
    if (finalizers.length === 0 && info.kind !== 'Namespace') return this.commit(info, 'DELETED', old, undefined, opts.dryRun);
    if (meta.deletionTimestamp && JSON.stringify(finalizers) === JSON.stringify(meta.finalizers ?? [])) return old;
    const next: KubeObject = {
      ...old,
      metadata: { ...meta, deletionTimestamp: meta.deletionTimestamp ?? nowTimestamp(), deletionGracePeriodSeconds: meta.deletionGracePeriodSeconds ?? opts.gracePeriodSeconds ?? 0, finalizers },
    };
    if (finalizers.length === 0) delete (next.metadata as ObjectMeta).finalizers;
    if (info.kind === 'Namespace') next.status = { ...(old.status as object), phase: 'Terminating' };
    return this.commit(info, 'MODIFIED', next, old, opts.dryRun);
  }

  /** Removes an object outright: the garbage collector's last step for emptied namespaces. */
  remove(info: KindInfo, obj: KubeObject): KubeObject {
    return this.commit(info, 'DELETED', obj, undefined);
  }

  deleteCollection(info: KindInfo, namespace: string | undefined, list: ListOptions, opts: DeleteOptions): KubeObject[] {
    const { items } = this.list(info, namespace, { labelSelector: list.labelSelector ?? null, fieldSelector: list.fieldSelector ?? null });
    const deleted: KubeObject[] = [];
    for (const item of items) {
      try {
        deleted.push(this.delete(info, item.metadata?.namespace, item.metadata!.name!, opts));
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 404)) throw err;
      }
    }
    return deleted;
  }
}
