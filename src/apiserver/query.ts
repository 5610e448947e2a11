import type { DeleteOptions, ListOptions, Propagation } from './objects.ts';
import { ApiError, badRequest } from './status.ts';

/**
 * Query parameters read the way kube-apiserver's parameter codec reads them
 * (k8s.io/apimachinery runtime conversions and meta/internalversion validation):
 * - a boolean is false when absent, "0" or "false" in any case, and true for anything else
 *   (so the Python client's `watch=True` watches and a bare `?watch` does too);
 * - an integer is Go's strconv.ParseInt, whose error text becomes a 400;
 * - only the first of repeated values counts, except `dryRun`, which is a list.
 */
export function queryBool(q: URLSearchParams, key: string): boolean {
  const v = q.get(key);
  if (v === null) return false;
  return v !== '0' && v.toLowerCase() !== 'false';
}

const Int64Max = 2n ** 63n - 1n;

export function queryInt(q: URLSearchParams, key: string): number | undefined {
  const v = q.get(key);
  if (v === null) return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = BigInt(v);
  if (n > Int64Max || n < -Int64Max - 1n) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: value out of range`);
  return Number(n);
}

export type ResourceVersionMatch = 'NotOlderThan' | 'Exact';

export interface ListQuery extends ListOptions {
  resourceVersion?: string;
  resourceVersionMatch?: ResourceVersionMatch;
}

const causeReason: Record<string, string> = { Forbidden: 'FieldValueForbidden', 'Unsupported value': 'FieldValueNotSupported', 'Invalid value': 'FieldValueInvalid' };

/** A field error as kube-apiserver renders it inside an Invalid ListOptions/DeleteOptions Status. */
type OptionsKind = 'ListOptions' | 'CreateOptions' | 'UpdateOptions' | 'PatchOptions' | 'DeleteOptions';

function invalidOptions(kind: OptionsKind, errors: Array<{ field: string; type: string; message: string }>): ApiError {
  const rendered = errors.map((e) => `${e.field}: ${e.type}: ${e.message}`);
  const text = rendered.length === 1 ? rendered[0]! : `[${rendered.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${kind}.meta.k8s.io "" is invalid: ${text}`, {
    group: 'meta.k8s.io',
    kind,
    causes: errors.map((e) => ({ reason: causeReason[e.type] ?? 'FieldValueInvalid', message: `${e.type}: ${e.message}`, field: e.field })),
  });
}

/** `limit`, `continue`, selectors and resourceVersion[Match] of a list, validated as ValidateListOptions does. */
export function listQuery(q: URLSearchParams): ListQuery {
  const limit = queryInt(q, 'limit');
  const resourceVersion = q.get('resourceVersion') ?? '';
  const match = q.get('resourceVersionMatch') ?? '';
  const cont = q.get('continue') ?? '';
  const errors: Array<{ field: string; type: string; message: string }> = [];
  if (match !== '') {
    const field = 'resourceVersionMatch';
    if (resourceVersion === '') errors.push({ field, type: 'Forbidden', message: 'resourceVersionMatch is forbidden unless resourceVersion is provided' });
    if (cont !== '') errors.push({ field, type: 'Forbidden', message: 'resourceVersionMatch is forbidden when continue is provided' });
    if (match !== 'Exact' && match !== 'NotOlderThan') {
      errors.push({ field, type: 'Unsupported value', message: `${JSON.stringify(match)}: supported values: "Exact", "NotOlderThan", ""` });
    }
    if (match === 'Exact' && resourceVersion === '0') errors.push({ field, type: 'Forbidden', message: 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"' });
  }
  if (errors.length) throw invalidOptions('ListOptions', errors);
  return {
    labelSelector: q.get('labelSelector'),
    fieldSelector: q.get('fieldSelector'),
    limit: limit !== undefined && limit > 0 ? limit : 0,
    continue: cont || null,
    ...(resourceVersion ? { resourceVersion } : {}),
    ...(match ? { resourceVersionMatch: match as ResourceVersionMatch } : {}),
  };
}

export interface WatchQuery {
  resourceVersion: string | null;
  labelSelector: string | null;
  fieldSelector: string | null;
  allowBookmarks: boolean;
  timeoutSeconds: number | undefined;
}

/** A watch takes no resourceVersionMatch unless it asks for initial events, which this server does not offer. */
export function watchQuery(q: URLSearchParams): WatchQuery {
  if (q.get('sendInitialEvents') !== null) {
    throw invalidOptions('ListOptions', [{ field: 'sendInitialEvents', type: 'Forbidden', message: 'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled' }]);
  }
  if (q.get('resourceVersionMatch')) {
    throw invalidOptions('ListOptions', [
      { field: 'resourceVersionMatch', type: 'Forbidden', message: 'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided' },
    ]);
  }
  const timeout = queryInt(q, 'timeoutSeconds');
  return {
    resourceVersion: q.get('resourceVersion'),
    labelSelector: q.get('labelSelector'),
    fieldSelector: q.get('fieldSelector'),
    allowBookmarks: queryBool(q, 'allowWatchBookmarks'),
    timeoutSeconds: timeout !== undefined && timeout > 0 ? timeout : undefined,
  };
}

/** Go's %#v of a []string, as field.NotSupported prints the rejected dryRun list. */
const goStringSlice = (values: string[]): string => `[]string{${values.map((v) => JSON.stringify(v)).join(', ')}}`;

function dryRunError(values: string[]): { field: string; type: string; message: string } | undefined {
  if (values.every((v) => v === 'All')) return undefined;
  return { field: 'dryRun', type: 'Unsupported value', message: `${goStringSlice(values)}: supported values: "All"` };
}

/** `dryRun=All` (repeatable) on a create, update or patch; any other value is refused as the verb's options. */
export function dryRunQuery(q: URLSearchParams, kind: 'CreateOptions' | 'UpdateOptions' | 'PatchOptions'): boolean {
  const values = q.getAll('dryRun');
  const bad = dryRunError(values);
  if (bad) throw invalidOptions(kind, [bad]);
  return values.length > 0;
}

interface DeleteBody {
  propagationPolicy?: unknown;
  orphanDependents?: unknown;
  gracePeriodSeconds?: unknown;
  dryRun?: unknown;
  preconditions?: DeleteOptions['preconditions'];
}

/**
 * DeleteOptions from the query and the body (a DeleteOptions object, as client-go and the Python
 * client send it); the query wins where both say something. orphanDependents is the deprecated
 * spelling of propagationPolicy=Orphan and may not be combined with it.
 */
export function deleteQuery(q: URLSearchParams, body: unknown): DeleteOptions {
  const b = (body && typeof body === 'object' && !Array.isArray(body) ? body : {}) as DeleteBody;
  const policy = q.get('propagationPolicy') ?? (typeof b.propagationPolicy === 'string' ? b.propagationPolicy : undefined);
  const orphan = q.get('orphanDependents') !== null ? queryBool(q, 'orphanDependents') : typeof b.orphanDependents === 'boolean' ? b.orphanDependents : undefined;
  const dryRun = q.getAll('dryRun').length ? q.getAll('dryRun') : Array.isArray(b.dryRun) ? b.dryRun.map(String) : [];
  const errors: Array<{ field: string; type: string; message: string }> = [];
  if (orphan !== undefined && policy !== undefined) {
    errors.push({ field: 'propagationPolicy', type: 'Invalid value', message: `${JSON.stringify(policy)}: orphanDependents and deletionPropagation cannot be both set` });
  }
  if (policy !== undefined && !['Background', 'Foreground', 'Orphan'].includes(policy)) {
    errors.push({ field: 'propagationPolicy', type: 'Unsupported value', message: `${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan", "nil"` });
  }
  const badDryRun = dryRunError(dryRun);
  if (badDryRun) errors.push(badDryRun);
  if (errors.length) throw invalidOptions('DeleteOptions', errors);
  const grace = q.get('gracePeriodSeconds') !== null ? queryInt(q, 'gracePeriodSeconds') : typeof b.gracePeriodSeconds === 'number' ? b.gracePeriodSeconds : undefined;
  if (grace !== undefined && !Number.isInteger(grace)) throw badRequest(`gracePeriodSeconds must be an integer: ${grace}`);
  const propagation = (policy ?? (orphan ? 'Orphan' : undefined)) as Propagation | undefined;
  return {
    ...(propagation ? { propagationPolicy: propagation } : {}),
    ...(b.preconditions ? { preconditions: b.preconditions } : {}),
    // kube-apiserver treats a negative grace period as 1 s.
    ...(grace !== undefined ? { gracePeriodSeconds: grace < 0 ? 1 : grace } : {}),
    ...(dryRun.length ? { dryRun: true } : {}),
  };
}
