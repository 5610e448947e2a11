import { rfc3339 } from '../api/time.ts';
import { FieldSet, pathString, type FieldsV1 } from './field-set.ts';
import { compare, merge, removeItems, toFieldSet, type Comparison } from './field-walk.ts';
import { apiVersionOf, type KindInfo, type KubeObject, type ObjectMeta } from './kinds.ts';
import type { KindSchema } from './schema-check.ts';
import { ApiError } from './status.ts';

/**
 * metadata.managedFields, kept as kube-apiserver's field manager keeps them: every write is an
 * Update by its manager (it gains what it added or changed, others lose it, removed fields leave
 * everyone), every server-side apply an Apply (the manager owns exactly what it sent; a field it
 * no longer sends and nobody else owns is removed; changing another manager's field is a
 * conflict unless forced).
 */
export type Operation = 'Apply' | 'Update';

export interface ManagedFieldsEntry {
  manager: string;
  operation: Operation;
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: FieldsV1;
  subresource?: string;
}

interface Managed {
  manager: string;
  operation: Operation;
  apiVersion: string;
  subresource: string | undefined;
  time: string | undefined;
  set: FieldSet;
  /** The FieldsV1 the set was read from, reused while the set is unchanged. */
  read?: { set: FieldSet; fieldsV1: FieldsV1 };
}

export interface Writer {
  manager: string;
  subresource: 'status' | undefined;
}

/** kube-apiserver's FieldManagerMaxLength. */
export const FieldManagerMaxLength = 128;

/** The manager of a write without fieldManager: the User-Agent up to its first `/`, printable characters only. */
export function managerFromUserAgent(userAgent: string | undefined): string {
  let out = '';
  for (const ch of (userAgent ?? '').split('/')[0]!) {
    if (/[\p{C}\p{Z}]/u.test(ch) && ch !== ' ') continue;
    if (Buffer.byteLength(out + ch) > FieldManagerMaxLength) break;
    out += ch;
  }
  return out;
}

/** The identity of an entry: Apply entries of a manager are one whatever their version. */
const identity = (m: Pick<Managed, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string =>
  JSON.stringify([m.manager, m.operation, m.operation === 'Apply' ? '' : m.apiVersion, m.subresource ?? '']);

/** A client's time as metav1.Time keeps it: RFC 3339, whole seconds (client-node sends milliseconds). */
function wholeSeconds(time: unknown): string | undefined {
  if (typeof time !== 'string' || time === '') return undefined;
  const t = new Date(time);
  return Number.isNaN(t.getTime()) ? undefined : rfc3339(t);
}

/** Entries as stored (`trusted`: their FieldsV1 is already in canonical form) or as a client sent them. */
function decode(entries: unknown, trusted: boolean): Map<string, Managed> {
  const out = new Map<string, Managed>();
  if (!Array.isArray(entries)) return out;
  for (const e of entries as Array<Partial<ManagedFieldsEntry> | null>) {
    if (!e || typeof e.manager !== 'string' || (e.operation !== 'Apply' && e.operation !== 'Update')) continue;
    const m: Managed = {
      manager: e.manager,
      operation: e.operation,
      apiVersion: e.apiVersion ?? '',
      subresource: e.subresource || undefined,
      time: wholeSeconds(e.time),
      set: FieldSet.fromFieldsV1(e.fieldsV1),
    };
    if (trusted) m.read = { set: m.set, fieldsV1: e.fieldsV1 as FieldsV1 };
    out.set(identity(m), m);
  }
  return out;
}

/** Entries in kube-apiserver's order: Apply before Update, then by time, manager, version, subresource. */
function encode(managers: Map<string, Managed>): ManagedFieldsEntry[] {
  const list = [...managers.values()].filter((m) => !m.set.empty());
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  list.sort(
    (p, q) =>
      cmp(p.operation, q.operation) ||
      cmp(p.time ?? '', q.time ?? '') ||
      cmp(p.manager, q.manager) ||
      cmp(p.apiVersion, q.apiVersion) ||
      cmp(p.subresource ?? '', q.subresource ?? ''),
  );
  return list.map((m) => ({
    manager: m.manager,
    operation: m.operation,
    apiVersion: m.apiVersion,
    ...(m.time ? { time: m.time } : {}),
    fieldsType: 'FieldsV1',
    fieldsV1: m.read?.set === m.set ? m.read.fieldsV1 : m.set.toFieldsV1(),
    ...(m.subresource ? { subresource: m.subresource } : {}),
  }));
}

/** Metadata the server owns: never anyone's field. */
const ServerMetadata = new Set(['name', 'namespace', 'creationTimestamp', 'selfLink', 'uid', 'generation', 'managedFields', 'resourceVersion', 'deletionTimestamp', 'deletionGracePeriodSeconds']);

/**
 * What a manager can own of `obj` through this write: the main resource of a kind with a status
 * subresource never owns status, the status subresource owns only status.
 */
function view(info: KindInfo, obj: KubeObject | undefined, subresource: string | undefined): KubeObject {
  if (!obj) return { metadata: {} };
  const { apiVersion: _a, kind: _k, metadata = {}, ...rest } = obj;
  if (subresource === 'status') return { metadata: {}, ...(obj.status !== undefined ? { status: obj.status } : {}) };
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) if (!ServerMetadata.has(k)) meta[k] = v;
  const out: KubeObject = { metadata: meta as ObjectMeta, ...rest };
  if (info.subresources.includes('status')) delete out.status;
  return out;
}

/** `[{}]`: the client asks for managedFields to be dropped altogether. */
function isReset(entries: unknown): boolean {
  return Array.isArray(entries) && entries.length > 0 && entries.every((e) => e !== null && typeof e === 'object' && Object.keys(e).length === 0);
}

/** The time of an entry written now; formatted once a second, as writes come in bursts. */
let lastSecond = -1;
let lastStamp = '';
function stamp(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastStamp = rfc3339(new Date(second * 1000));
  }
  return lastStamp;
}

const changed = (c: Comparison): boolean => !c.added.empty() || !c.modified.empty() || !c.removed.empty();

/**
 * Records an Update by `writer` on `next` (which `live` becomes; absent on create). Entries the
 * client sent replace the live ones (directly editing managedFields); none, or `[]`, keep them.
 */
export function recordUpdate(info: KindInfo, kind: KindSchema, live: KubeObject | undefined, next: KubeObject, writer: Writer, sent: unknown): void {
  const meta = next.metadata as ObjectMeta;
  if (isReset(sent)) {
    delete meta.managedFields;
    return;
  }
  const stored = live?.metadata?.managedFields;
  // Most writes send back what they read (patches always do): those are the stored entries.
  const resent = sent === undefined || (Array.isArray(sent) && sent.length === 0) || JSON.stringify(sent) === JSON.stringify(stored);
  const fromClient = writer.subresource === undefined && !resent ? decode(sent, false) : new Map<string, Managed>();
  const managers = fromClient.size > 0 ? fromClient : decode(stored, true);
  const diff = compare(view(info, live, writer.subresource), view(info, next, writer.subresource), kind.schema, kind.builtin);
  if (changed(diff)) {
    const id = identity({ manager: writer.manager, operation: 'Update', apiVersion: apiVersionOf(info), subresource: writer.subresource });
    const taken = diff.modified.union(diff.added);
    const lost = taken.union(diff.removed);
    for (const [key, m] of managers) if (key !== id && !m.set.intersection(lost).empty()) m.set = m.set.difference(lost);
    const mine = managers.get(id);
    const set = (mine?.set ?? new FieldSet()).difference(diff.removed).union(taken);
    managers.set(id, { manager: writer.manager, operation: 'Update', apiVersion: apiVersionOf(info), subresource: writer.subresource, time: stamp(), set });
  }
  setEntries(meta, managers);
}

function setEntries(meta: ObjectMeta, managers: Map<string, Managed>): void {
  const entries = encode(managers);
  if (entries.length > 0) meta.managedFields = entries;
  else delete meta.managedFields;
}

/** How kube-apiserver names a manager in a conflict: by its identity, `"kubectl-client-side-apply" using v1` for updaters. */
function describe(m: Managed): string {
  let out = JSON.stringify(m.manager);
  if (m.subresource) out += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === 'Update') out += ` using ${m.apiVersion}`;
  return out;
}

function conflictError(conflicts: Array<{ manager: Managed; path: string }>): ApiError {
  let message: string;
  if (conflicts.length === 1) {
    message = `Apply failed with 1 conflict: conflict with ${describe(conflicts[0]!.manager)}: ${conflicts[0]!.path}`;
  } else {
    const byManager = new Map<string, { manager: Managed; paths: string[] }>();
    for (const c of conflicts) {
      const key = describe(c.manager);
      const group = byManager.get(key) ?? { manager: c.manager, paths: [] };
      group.paths.push(c.path);
      byManager.set(key, group);
    }
    message = `Apply failed with ${conflicts.length} conflicts:`;
    for (const key of [...byManager.keys()].sort()) message += `\nconflicts with ${key}${byManager.get(key)!.paths.map((p) => `\n- ${p}`).join('')}`;
  }
  return new ApiError(409, 'Conflict', message, {
    causes: conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${describe(c.manager)}`, field: c.path })),
  });
}

/**
 * Applies `config` by `writer` to `live` (absent: the apply creates the object). Throws the 409
 * kube-apiserver answers when the configuration changes fields other managers own, unless forced.
 */
export function applyConfiguration(info: KindInfo, kind: KindSchema, live: KubeObject | undefined, config: KubeObject, writer: Writer, force: boolean): KubeObject {
  const { managedFields: liveEntries, ...liveMeta } = live?.metadata ?? {};
  const liveObj: KubeObject | undefined = live ? { ...live, metadata: liveMeta } : undefined;
  const managers = decode(liveEntries, true);
  if (live && managers.size === 0) {
    // Objects written before anyone tracked ownership: their fields belong to one updater.
    const set = compare(view(info, undefined, writer.subresource), view(info, liveObj, writer.subresource), kind.schema, kind.builtin).added;
    const before: Managed = { manager: 'before-first-apply', operation: 'Update', apiVersion: apiVersionOf(info), subresource: undefined, time: undefined, set };
    managers.set(identity(before), before);
  }
  const merged = merge(liveObj ?? {}, config, kind.schema) as KubeObject;
  const applied = toFieldSet(view(info, config, writer.subresource), kind.schema);
  const diff = compare(view(info, liveObj, writer.subresource), view(info, merged, writer.subresource), kind.schema, kind.builtin);
  const id = identity({ manager: writer.manager, operation: 'Apply', apiVersion: '', subresource: writer.subresource });
  const touched = diff.modified.union(diff.added);
  const conflicts: Array<{ manager: Managed; path: string }> = [];
  for (const [key, m] of managers) {
    if (key === id) continue;
    for (const path of m.set.intersection(touched).paths()) conflicts.push({ manager: m, path: pathString(path) });
  }
  if (conflicts.length > 0 && !force) throw conflictError(conflicts);
  for (const [key, m] of managers) if (key !== id) m.set = m.set.difference(touched);
  const previous = managers.get(id);
  managers.set(id, { manager: writer.manager, operation: 'Apply', apiVersion: apiVersionOf(info), subresource: writer.subresource, time: previous?.time, set: applied });
  const pruned = prune(merged, previous?.set, managers, kind);
  const result = compare(view(info, liveObj, writer.subresource), view(info, pruned, writer.subresource), kind.schema, kind.builtin);
  for (const [key, m] of managers) if (key !== id) m.set = m.set.difference(result.removed);
  const mine = managers.get(id)!;
  if (!previous || changed(result) || !previous.set.equals(applied)) mine.time = stamp();
  const meta = { ...(pruned.metadata as ObjectMeta) };
  setEntries(meta, managers);
  return { ...pruned, metadata: meta };
}

/** Removes what the manager applied last time and no longer does, unless someone still owns it. */
function prune(merged: KubeObject, last: FieldSet | undefined, managers: Map<string, Managed>, kind: KindSchema): KubeObject {
  if (!last) return merged;
  const owned = [...managers.values()].map((m) => m.set);
  const gone = new FieldSet();
  for (const path of last.paths()) if (!owned.some((s) => s.hasWithin(path))) gone.insert(path);
  return removeItems(merged, gone, kind.schema) as KubeObject;
}
