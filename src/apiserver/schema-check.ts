import { goTypeOf, type JsonSchema } from '../api/schema.ts';
import type { KindInfo, KubeObject } from './kinds.ts';
import { ApiError, badRequest, invalid, type StatusCause } from './status.ts';

/**
 * Checks a request body against its kind's structural schema before anything is stored, and
 * answers the way kube-apiserver does:
 *  - built-in kinds: a wrong type is the Go JSON decoder's error (400, `json: cannot unmarshal
 *    string into Go struct field PodSpec.spec.containers of type []v1.Container`);
 *  - CRD kinds: wrong types and missing required fields are 422 Invalid with one cause each
 *    (`spec.x: Invalid value: "string": spec.x in body must be of type integer: "string"`);
 *  - unknown and duplicate fields follow `fieldValidation`: Strict refuses them (400 `strict
 *    decoding error: unknown field "spec.x"`), Warn (the default) and Ignore drop the unknown
 *    ones and keep the last of duplicates, Warn with a warning each.
 * Null object fields are dropped as the decoders drop them. `metadata` is metadata.ts's to check.
 */
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';
export const FieldValidations: readonly FieldValidation[] = ['Ignore', 'Strict', 'Warn'];

export interface KindSchema {
  schema: JsonSchema;
  /** Built-in kinds are Go structs (decoder errors); CRDs are checked by their OpenAPI schema. */
  builtin: boolean;
}

interface Walk {
  builtin: boolean;
  /** An apply configuration names only the fields its manager sets: required ones may be absent. */
  partial: boolean;
  unknown: string[];
  causes: StatusCause[];
}

class DecodeError extends Error {}

const QuantityPattern = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The JSON value kind as Go's decoder names it in UnmarshalTypeError. */
function goValueName(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return 'number';
  return typeof v;
}

/** The value type as kube-openapi's validator names it. */
function openapiTypeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function goTypeName(s: JsonSchema): string {
  const tagged = goTypeOf(s);
  if (tagged) return tagged;
  if (s.type === 'array') return `[]${s.items ? goTypeName(s.items) : 'interface {}'}`;
  if (s.type === 'object') return s.additionalProperties ? `map[string]${goTypeName(s.additionalProperties)}` : 'map[string]interface {}';
  if (s.type === 'string') return s.format === 'byte' ? '[]uint8' : 'string';
  if (s.type === 'integer') return s.format === 'int64' ? 'int64' : 'int32';
  if (s.type === 'boolean') return 'bool';
  if (s.type === 'number') return 'float64';
  return 'interface {}';
}

/** Where a value sits: `show` is the field path with indexes, `go` the decoder's struct-field path. */
interface Path {
  show: string;
  go: string;
  struct: string;
}

const child = (p: Path, key: string): Path => ({ show: p.show ? `${p.show}.${key}` : key, go: p.go ? `${p.go}.${key}` : key, struct: p.struct });
const item = (p: Path, index: number | string): Path => ({ ...p, show: `${p.show}[${index}]` });

function typeMismatch(w: Walk, s: JsonSchema, v: unknown, p: Path, expected: string): void {
  if (w.builtin) {
    const value = typeof v === 'number' && expected.startsWith('int') ? `number ${v}` : goValueName(v);
    throw new DecodeError(`json: cannot unmarshal ${value} into Go struct field ${p.struct}.${p.go} of type ${goTypeName(s)}`);
  }
  const type = openapiTypeName(v);
  w.causes.push({
    field: p.show,
    reason: 'FieldValueTypeInvalid',
    message: `Invalid value: "${type}": ${p.show} in body must be of type ${expected}: "${type}"`,
  });
}

/** The zero value Go's decoder leaves for a JSON null inside a list or map. */
function zeroOf(s: JsonSchema): unknown {
  if (s['x-kubernetes-int-or-string']) return null;
  switch (s.type) {
    case 'string':
      return '';
    case 'integer':
    case 'number':
      return 0;
    case 'boolean':
      return false;
    case 'array':
      return null;
    default:
      return s.properties ? {} : null;
  }
}

function intOrString(w: Walk, s: JsonSchema, v: unknown, p: Path): unknown {
  const quantity = goTypeOf(s) === 'resource.Quantity';
  const ok = typeof v === 'string' || (typeof v === 'number' && (quantity || Number.isInteger(v)));
  if (!w.builtin) {
    if (!ok) typeMismatch(w, s, v, p, 'integer,string');
    return v;
  }
  if (quantity) {
    const text = typeof v === 'string' ? v.trim() : typeof v === 'number' ? String(v) : JSON.stringify(v);
    if (!QuantityPattern.test(text)) throw new DecodeError(`quantities must match the regular expression '${QuantityPattern.source}'`);
  } else if (!ok) {
    throw new DecodeError(`json: cannot unmarshal ${goValueName(v)} into Go value of type int32`);
  }
  return v;
}

function walk(w: Walk, s: JsonSchema, v: unknown, p: Path): unknown {
  if (s['x-kubernetes-int-or-string']) return intOrString(w, s, v, p);
  switch (s.type) {
    case 'string':
      if (typeof v !== 'string') typeMismatch(w, s, v, p, 'string');
      return v;
    case 'integer':
      if (typeof v !== 'number' || !Number.isInteger(v)) typeMismatch(w, s, v, p, 'integer');
      return v;
    case 'number':
      if (typeof v !== 'number') typeMismatch(w, s, v, p, 'number');
      return v;
    case 'boolean':
      if (typeof v !== 'boolean') typeMismatch(w, s, v, p, 'boolean');
      return v;
    case 'array':
      if (!Array.isArray(v)) {
        typeMismatch(w, s, v, p, 'array');
        return v;
      }
      return s.items ? v.map((x, i) => element(w, s.items!, x, item(p, i))) : v;
    case 'object':
      if (!isPlainObject(v)) {
        typeMismatch(w, s, v, p, 'object');
        return v;
      }
      return objectValue(w, s, v, p);
    default:
      return v;
  }
}

/** A list item or map value: a null is a type error for CRDs and Go's zero value for built-ins. */
function element(w: Walk, s: JsonSchema, v: unknown, p: Path): unknown {
  if (v !== null) return walk(w, s, v, p);
  if (!w.builtin) {
    typeMismatch(w, s, v, p, s.type ?? 'object');
    return v;
  }
  const zero = zeroOf(s);
  return zero === null ? null : walk(w, s, zero, p);
}

function objectValue(w: Walk, s: JsonSchema, v: Record<string, unknown>, p: Path): Record<string, unknown> {
  if (s.additionalProperties) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = element(w, s.additionalProperties, x, item(p, k));
    return out;
  }
  const properties = s.properties;
  if (!properties) return v;
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  const struct = goTypeOf(s)?.replace(/^.*\./, '') ?? p.struct;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) {
    const field = properties[k];
    if (!field) {
      if (preserve) out[k] = x;
      else w.unknown.push(child(p, k).show);
      continue;
    }
    if (x === null) continue;
    out[k] = walk(w, field, x, { ...child(p, k), struct });
  }
  for (const key of w.partial ? [] : (s.required ?? [])) {
    if (out[key] === undefined) w.causes.push({ field: child(p, key).show, reason: 'FieldValueRequired', message: 'Required value' });
  }
  return out;
}

const bodySchemas = new WeakMap<JsonSchema, JsonSchema>();

/** A kind's schema without the type and object metadata, which are checked elsewhere. */
function bodySchema(schema: JsonSchema): JsonSchema {
  let body = bodySchemas.get(schema);
  if (!body) {
    const { metadata: _m, apiVersion: _a, kind: _k, ...properties } = schema.properties ?? {};
    body = { ...schema, properties, required: (schema.required ?? []).filter((r) => r !== 'metadata') };
    bodySchemas.set(schema, body);
  }
  return body;
}

export interface CheckResult {
  /** The body as it is stored: unknown fields and null fields dropped. */
  object: KubeObject;
  /** `unknown field "spec.x"` / `duplicate field "x"` for each (fieldValidation=Warn). */
  warnings: string[];
}

/**
 * Checks `body` (already known to be an object) against `kind`; throws the ApiError
 * kube-apiserver would answer, or returns the object to store and the warnings to send.
 */
export function checkSchema(
  info: KindInfo,
  kind: KindSchema,
  body: KubeObject,
  fieldValidation: FieldValidation = 'Warn',
  duplicates: readonly string[] = [],
  partial = false,
): CheckResult {
  const w: Walk = { builtin: kind.builtin, partial, unknown: [], causes: [] };
  const handled = `${info.kind} in version "${info.version}" cannot be handled as a ${info.kind}`;
  const { metadata, apiVersion, kind: k, ...rest } = body;
  let checked: Record<string, unknown>;
  try {
    checked = objectValue(w, bodySchema(kind.schema), rest, { show: '', go: '', struct: goTypeOf(kind.schema)?.replace(/^.*\./, '') ?? info.kind });
  } catch (err) {
    if (err instanceof DecodeError) throw badRequest(`${handled}: ${err.message}`);
    throw err;
  }
  const fieldProblems = [...duplicates.map((f) => `duplicate field "${f}"`), ...w.unknown.map((f) => `unknown field "${f}"`)];
  if (fieldValidation === 'Strict' && fieldProblems.length > 0) throw badRequest(`${handled}: strict decoding error: ${fieldProblems.join(', ')}`);
  if (w.causes.length > 0) throw invalid(info, body.metadata?.name ?? '', w.causes);
  const object: KubeObject = { ...(apiVersion !== undefined ? { apiVersion } : {}), ...(k !== undefined ? { kind: k } : {}), ...(metadata !== undefined ? { metadata } : {}), ...checked };
  return { object, warnings: fieldValidation === 'Warn' ? fieldProblems : [] };
}

export function parseFieldValidation(value: string | null): FieldValidation {
  if (value === null || value === '') return 'Warn';
  if ((FieldValidations as readonly string[]).includes(value)) return value as FieldValidation;
  throw new ApiError(400, 'BadRequest', `fieldValidation: Unsupported value: "${value}": supported values: "Ignore", "Strict", "Warn"`);
}
