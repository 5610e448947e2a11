/**
 * A tiny schema builder: each call returns a plain structural OpenAPI v3 schema object (what a
 * CRD's `openAPIV3Schema` holds) whose TypeScript type also carries the value type it describes.
 * `Static<typeof X>` yields that value type, so one definition gives both the CRD schema and the
 * TS types, and they cannot drift. The phantom `__value` key is type-only; no object carries it.
 */
export interface JsonSchema {
  type?: 'object' | 'string' | 'integer' | 'number' | 'boolean' | 'array';
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema;
  enum?: string[];
  format?: string;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  'x-kubernetes-int-or-string'?: true;
  'x-kubernetes-preserve-unknown-fields'?: true;
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-patch-merge-key'?: string;
  'x-kubernetes-patch-strategy'?: string;
}

/**
 * The Go type a built-in kind's schema node decodes into (`v1.Container`, `resource.Quantity`):
 * kube-apiserver's decode errors name it. Kept beside the schema, never inside it, so the
 * published OpenAPI and the CRDs stay plain.
 */
const goTypes = new WeakMap<JsonSchema, string>();

export function goType<S extends JsonSchema>(name: string, schema: S): S {
  goTypes.set(schema, name);
  return schema;
}

export function goTypeOf(schema: JsonSchema): string | undefined {
  return goTypes.get(schema);
}

export type Typed<T> = JsonSchema & { readonly __value?: T };
export type Static<S> = S extends Typed<infer T> ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type ObjectOf<P extends Record<string, Typed<unknown>>, R extends keyof P> = Simplify<
  { [K in R]: Static<P[K]> } & { [K in Exclude<keyof P, R>]?: Static<P[K]> }
>;

interface Doc {
  description?: string;
}

export function str(doc: Doc & { format?: string; maxLength?: number; enum?: string[] } = {}): Typed<string> {
  return { type: 'string', ...doc };
}

/** A string of a Go named string type (`v1.Protocol`), for built-in kinds whose decode errors name it. */
export function named(go: string, description?: string): Typed<string> {
  return goType(go, str(description ? { description } : {}));
}

export function strEnum<const E extends string>(values: readonly E[], doc: Doc = {}): Typed<E> {
  return { type: 'string', enum: [...values], ...doc };
}

export function int(doc: Doc & { format?: 'int32' | 'int64'; minimum?: number } = {}): Typed<number> {
  return { type: 'integer', ...doc };
}

export function num(doc: Doc & { format?: 'double' } = {}): Typed<number> {
  return { type: 'number', ...doc };
}

export function bool(doc: Doc = {}): Typed<boolean> {
  return { type: 'boolean', ...doc };
}

/** A Kubernetes quantity ("10Gi", 1024). */
export function quantity(doc: Doc = {}): Typed<string | number> {
  return goType('resource.Quantity', { 'x-kubernetes-int-or-string': true, ...doc });
}

/** A port or percentage that is a number or a name ("8080", "http", "25%"). */
export function intOrString(doc: Doc = {}): Typed<string | number> {
  return goType('intstr.IntOrString', { 'x-kubernetes-int-or-string': true, ...doc });
}

interface ListDoc extends Doc {
  listType?: 'atomic' | 'set' | 'map';
  /** The keys that identify an item of a `map` list (`x-kubernetes-list-map-keys`). */
  keys?: string[];
  /** Strategic merge patch: items merge by this key (`x-kubernetes-patch-merge-key`). */
  mergeKey?: string;
  patchStrategy?: 'merge' | 'merge,retainKeys' | 'replace';
}

export function arr<T>(items: Typed<T>, doc: ListDoc = {}): Typed<T[]> {
  const { listType, keys, mergeKey, patchStrategy, ...rest } = doc;
  return {
    type: 'array',
    items,
    ...rest,
    ...(listType ? { 'x-kubernetes-list-type': listType } : {}),
    ...(keys ? { 'x-kubernetes-list-map-keys': keys } : {}),
    ...(mergeKey ? { 'x-kubernetes-patch-merge-key': mergeKey } : {}),
    ...(patchStrategy ? { 'x-kubernetes-patch-strategy': patchStrategy } : mergeKey ? { 'x-kubernetes-patch-strategy': 'merge' } : {}),
  };
}

export function map<T>(values: Typed<T>, doc: Doc = {}): Typed<Record<string, T>> {
  return { type: 'object', additionalProperties: values, ...doc };
}

/** An object whose content the API keeps as given (embedded Kubernetes objects we do not model). */
export function opaque<T = Record<string, unknown>>(doc: Doc = {}): Typed<T> {
  return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, ...doc };
}

export function obj<P extends Record<string, Typed<unknown>>, R extends keyof P & string = never>(
  properties: P,
  required: readonly R[] = [],
  doc: Doc & { atomic?: boolean } = {},
): Typed<ObjectOf<P, R>> {
  const { atomic, ...rest } = doc;
  return {
    type: 'object',
    properties,
    ...(required.length > 0 ? { required: [...required] } : {}),
    ...rest,
    ...(atomic ? { 'x-kubernetes-map-type': 'atomic' as const } : {}),
  };
}
