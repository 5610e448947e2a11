import type { KindInfo, KubeObject } from './kinds.ts';
import { badRequest, invalid, type ApiError, type StatusCause } from './status.ts';

/**
 * The data of Secrets and ConfigMaps as kube-apiserver keeps it:
 * - `data` of a Secret and `binaryData` of a ConfigMap are bytes, so JSON carries them base64;
 *   a value that is not (Go's StdEncoding: padded, newlines skipped) cannot be decoded: 400;
 * - a Secret's `stringData` is write-only: merged into `data` (it wins on equal keys) and dropped;
 * - `type` defaults to Opaque and never changes;
 * - once `immutable: true`, data stays as it is and `immutable` stays true.
 */
const alphabet = new Set('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const isNewline = (c: string | undefined): boolean => c === '\n' || c === '\r';

/** The input offset Go's base64.StdEncoding reports for an undecodable value, or -1 when it decodes. */
export function base64ErrorOffset(text: string): number {
  let i = 0;
  for (;;) {
    let j = 0;
    while (j < 4) {
      if (i === text.length) {
        if (j === 0) return -1;
        return i - j;
      }
      const c = text[i++]!;
      if (alphabet.has(c)) {
        j++;
        continue;
      }
      if (isNewline(c)) continue;
      if (c !== '=' || j < 2) return i - 1;
      // Padding ends the value: "==" after two symbols, "=" after three, then only newlines.
      if (j === 2) {
        while (isNewline(text[i])) i++;
        if (i === text.length) return text.length;
        if (text[i] !== '=') return i - 1;
        i++;
      }
      while (isNewline(text[i])) i++;
      return i < text.length ? i : -1;
    }
  }
}

function checkBytes(info: KindInfo, values: unknown): void {
  if (values === undefined || values === null) return;
  if (typeof values !== 'object' || Array.isArray(values)) throw badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: expected a map of base64 strings`);
  for (const v of Object.values(values)) {
    const offset = typeof v === 'string' ? base64ErrorOffset(v) : 0;
    if (offset >= 0) throw badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: illegal base64 data at input byte ${offset}`);
  }
}

function mergeStringData(info: KindInfo, obj: KubeObject): void {
  const strings = obj.stringData;
  delete obj.stringData;
  if (strings === undefined || strings === null) return;
  if (typeof strings !== 'object' || Array.isArray(strings) || Object.values(strings).some((v) => typeof v !== 'string')) {
    throw badRequest(`${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}: stringData must be a map of strings`);
  }
  const data = { ...((obj.data ?? {}) as Record<string, string>) };
  for (const [k, v] of Object.entries(strings as Record<string, string>)) data[k] = Buffer.from(v, 'utf8').toString('base64');
  obj.data = data;
}

/** Decodes what a create or update sends into what is stored; call before validation. */
export function normalizeConfigData(info: KindInfo, obj: KubeObject): void {
  if (info.group !== '') return;
  if (info.kind === 'Secret') {
    checkBytes(info, obj.data);
    mergeStringData(info, obj);
    obj.type ??= 'Opaque';
  } else if (info.kind === 'ConfigMap') {
    checkBytes(info, obj.binaryData);
  }
}

/** Map equality regardless of key order (a patch may reorder keys). */
function sameMap(a: unknown, b: unknown): boolean {
  const entries = (m: unknown) => JSON.stringify(Object.entries((m ?? {}) as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)));
  return entries(a) === entries(b);
}
const ImmutableSet = 'Forbidden: field is immutable when `immutable` is set';

/** The Invalid refusal of an update that changes what kube-apiserver keeps fixed, if any. */
export function checkConfigDataUpdate(info: KindInfo, next: KubeObject, old: KubeObject): ApiError | undefined {
  if (info.group !== '' || (info.kind !== 'Secret' && info.kind !== 'ConfigMap')) return undefined;
  const causes: StatusCause[] = [];
  if (info.kind === 'Secret' && next.type !== old.type) {
    causes.push({ field: 'type', reason: 'FieldValueInvalid', message: `Invalid value: ${JSON.stringify(next.type)}: field is immutable` });
  }
  if (old.immutable === true) {
    if (next.immutable !== true) causes.push({ field: 'immutable', reason: 'FieldValueForbidden', message: ImmutableSet });
    if (!sameMap(next.data, old.data)) causes.push({ field: 'data', reason: 'FieldValueForbidden', message: ImmutableSet });
    if (info.kind === 'ConfigMap' && !sameMap(next.binaryData, old.binaryData)) causes.push({ field: 'binaryData', reason: 'FieldValueForbidden', message: ImmutableSet });
  }
  return causes.length ? invalid(info, old.metadata?.name ?? '', causes) : undefined;
}
