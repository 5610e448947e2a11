import { CdiError } from '../api/errors.ts';
import type { Logger } from '../api/logger.ts';
import { kinds, resourceKey } from './kinds.ts';
import { decodeObjectMeta } from './object-meta.ts';
import type { ObjectStore, StoredObject } from './store.ts';

/**
 * A start never fails on what one row holds: a row that does not parse, or whose metadata the
 * API would refuse to decode, or whose owner references the garbage collector cannot follow, is
 * logged with CDI_ERR_STORED_OBJECT and set aside (kept in the `set_aside` table), and the
 * server starts with everything else.
 */
const byResource = new Map(kinds.map((k) => [resourceKey(k), k]));

function problemOf(row: StoredObject): string | undefined {
  let obj: unknown;
  try {
    obj = JSON.parse(row.json);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return 'not a JSON object';
  const info = byResource.get(row.resource);
  if (!info) return `unknown resource ${row.resource}`;
  const meta = (obj as { metadata?: unknown }).metadata as Record<string, unknown> | undefined;
  try {
    decodeObjectMeta(info, meta);
  } catch (err) {
    return (err as Error).message;
  }
  if (meta?.name !== row.name || typeof meta.uid !== 'string' || meta.uid === '') return 'metadata.name or metadata.uid does not match its row';
  const refs = (meta.ownerReferences ?? []) as unknown[];
  if (refs.some((r) => r === null || typeof (r as { uid?: unknown }).uid !== 'string')) return 'an owner reference without a uid';
  return undefined;
}

/** Sets aside every unreadable row; returns how many. */
export function setAsideUnreadableRows(store: ObjectStore, log: Logger): number {
  const bad: Array<{ row: StoredObject; reason: string }> = [];
  for (const row of store.all()) {
    const reason = problemOf(row);
    if (reason) bad.push({ row, reason });
  }
  for (const { row, reason } of bad) {
    const what = `${row.resource} ${row.namespace ? `${row.namespace}/` : ''}${row.name}`;
    const err = new CdiError('CDI_ERR_STORED_OBJECT', [what, reason]);
    log.error({ code: err.code, resource: row.resource, namespace: row.namespace, name: row.name, rv: row.rv }, err.message);
    store.setAside(row, reason);
  }
  return bad.length;
}
