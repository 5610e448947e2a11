import type { JsonSchema } from '../api/schema.ts';
import { FieldSet } from './field-set.ts';

/**
 * How server-side apply sees a value through its schema: a leaf (scalars, atomic lists and maps),
 * a struct or map whose fields are owned one by one, a list of items identified by their keys
 * (`x-kubernetes-list-type: map`, or a patch merge key) or a set of scalars (`k:`/`v:` elements).
 * Lists without a list type are atomic, as structured-merge-diff deduces them; parts without a
 * schema are maps of leaves.
 */
type Value = unknown;
type Obj = Record<string, unknown>;

type Shape =
  | { kind: 'leaf' }
  | { kind: 'object'; struct: boolean; field: (key: string) => JsonSchema | undefined }
  | { kind: 'keyed'; keys: string[]; item: JsonSchema | undefined }
  | { kind: 'set' };

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const Leaf: Shape = { kind: 'leaf' };

function shapeOf(schema: JsonSchema | undefined, value: Value): Shape {
  if (!schema) {
    return isObj(value) ? { kind: 'object', struct: false, field: () => undefined } : Leaf;
  }
  if (schema['x-kubernetes-int-or-string']) return Leaf;
  if (schema.type === 'object' || (schema.type === undefined && isObj(value))) {
    if (schema['x-kubernetes-map-type'] === 'atomic' || !isObj(value)) return Leaf;
    const { properties, additionalProperties } = schema;
    if (properties) return { kind: 'object', struct: true, field: (k) => properties[k] };
    return { kind: 'object', struct: false, field: () => additionalProperties };
  }
  if (schema.type === 'array' && Array.isArray(value)) {
    const listType = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'] ?? (schema['x-kubernetes-patch-merge-key'] ? [schema['x-kubernetes-patch-merge-key']] : undefined);
    if ((listType === 'map' || (listType === undefined && keys)) && keys?.length) return { kind: 'keyed', keys, item: schema.items };
    if (listType === 'set') return { kind: 'set' };
  }
  return Leaf;
}

/** The `k:` element of a keyed list item, its keys in name order; `i:` when a key is missing. */
function keyElement(keys: readonly string[], item: Value, index: number): string {
  if (!isObj(item) || keys.some((k) => item[k] === undefined)) return `i:${index}`;
  const key: Obj = {};
  for (const k of [...keys].sort()) key[k] = item[k];
  return `k:${JSON.stringify(key)}`;
}

/** A list's items by their path element (a repeated key keeps the last). */
function itemsOf(shape: Shape & { kind: 'keyed' | 'set' }, list: Value): Map<string, Value> {
  const out = new Map<string, Value>();
  if (!Array.isArray(list)) return out;
  list.forEach((item, i) => out.set(shape.kind === 'set' ? `v:${JSON.stringify(item)}` : keyElement(shape.keys, item, i), item));
  return out;
}

const itemSchema = (shape: Shape): JsonSchema | undefined => (shape.kind === 'keyed' ? shape.item : undefined);

/** The fields an applied configuration sets: its leaves, list items and set values. */
export function toFieldSet(value: Value, schema: JsonSchema | undefined): FieldSet {
  const set = new FieldSet();
  const walk = (v: Value, s: JsonSchema | undefined, path: string[]): void => {
    const shape = shapeOf(s, v);
    switch (shape.kind) {
      case 'object': {
        for (const [k, x] of Object.entries(v as Obj)) if (x !== null) walk(x, shape.field(k), [...path, `f:${k}`]);
        return;
      }
      case 'keyed':
        for (const [element, item] of itemsOf(shape, v)) {
          set.insert([...path, element]);
          if (isObj(item)) for (const [k, x] of Object.entries(item)) if (x !== null) walk(x, shape.item?.properties?.[k], [...path, element, `f:${k}`]);
        }
        return;
      case 'set':
        for (const element of itemsOf(shape, v).keys()) set.insert([...path, element]);
        return;
      default:
        if (path.length > 0) set.insert(path);
    }
  };
  walk(value, schema, []);
  return set;
}

export interface Comparison {
  added: FieldSet;
  modified: FieldSet;
  removed: FieldSet;
}

/**
 * What changed from `before` to `after`: every path only `after` has (added), only `before` has
 * (removed), and every leaf whose value differs (modified). Objects count as paths of their own
 * when they appear or go, except the fixed structs of built-in kinds, which always exist there.
 */
export function compare(before: Value, after: Value, schema: JsonSchema | undefined, builtin: boolean): Comparison {
  const out: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  const walk = (a: Value, b: Value, s: JsonSchema | undefined, path: string[]): void => {
    if (a === undefined && b === undefined) return;
    const shapeA = a === undefined ? undefined : shapeOf(s, a);
    const shapeB = b === undefined ? undefined : shapeOf(s, b);
    const shape = shapeB ?? shapeA!;
    if (shapeA && shapeB && shapeA.kind !== shapeB.kind) {
      out.modified.insert(path);
      return;
    }
    const side = (): FieldSet | undefined => (a === undefined ? out.added : b === undefined ? out.removed : undefined);
    switch (shape.kind) {
      case 'leaf':
        if (side()) side()!.insert(path);
        else if (a !== b && (typeof a !== 'object' || typeof b !== 'object' || JSON.stringify(a) !== JSON.stringify(b))) out.modified.insert(path);
        return;
      case 'object': {
        const oa = (a ?? {}) as Obj;
        const ob = (b ?? {}) as Obj;
        const keys = new Set([...Object.keys(oa), ...Object.keys(ob)]);
        if (side() && path.length > 0 && (!shape.struct || !builtin || keys.size === 0)) side()!.insert(path);
        for (const k of keys) walk(oa[k] ?? undefined, ob[k] ?? undefined, shape.field(k), [...path, `f:${k}`]);
        return;
      }
      default: {
        const ia = itemsOf(shape, a);
        const ib = itemsOf(shape, b);
        for (const element of new Set([...ia.keys(), ...ib.keys()])) {
          const x = ia.get(element);
          const y = ib.get(element);
          if (x === undefined) out.added.insert([...path, element]);
          if (y === undefined) out.removed.insert([...path, element]);
          if (shape.kind === 'keyed') walkItem(x, y, itemSchema(shape), [...path, element]);
        }
      }
    }
  };
  const walkItem = (a: Value, b: Value, s: JsonSchema | undefined, path: string[]): void => {
    const oa = isObj(a) ? a : {};
    const ob = isObj(b) ? b : {};
    for (const k of new Set([...Object.keys(oa), ...Object.keys(ob)])) walk(oa[k] ?? undefined, ob[k] ?? undefined, s?.properties?.[k], [...path, `f:${k}`]);
  };
  walk(before, after, schema, []);
  return out;
}

/**
 * The live object with an applied configuration merged in: the configuration's leaves win,
 * structs and maps merge field by field, keyed lists by key (new items appended), sets by value;
 * atomic lists and maps are replaced whole.
 */
export function merge(live: Value, config: Value, schema: JsonSchema | undefined): Value {
  if (config === null || config === undefined) return live;
  const shape = shapeOf(schema, config);
  switch (shape.kind) {
    case 'object': {
      const out: Obj = isObj(live) ? { ...live } : {};
      for (const [k, v] of Object.entries(config as Obj)) if (v !== null) out[k] = merge(out[k], v, shape.field(k));
      return out;
    }
    case 'keyed': {
      // Live items are walked as they are, so items repeating a key (env names can) all survive.
      const liveList = Array.isArray(live) ? (live as Value[]) : [];
      const configItems = itemsOf(shape, config);
      const seen = new Set<string>();
      const out = liveList.map((item, i) => {
        const element = keyElement(shape.keys, item, i);
        seen.add(element);
        return configItems.has(element) ? merge(item, configItems.get(element), shape.item) : item;
      });
      for (const [element, item] of configItems) if (!seen.has(element)) out.push(merge(undefined, item, shape.item));
      return out;
    }
    case 'set': {
      const out = Array.isArray(live) ? [...(live as Value[])] : [];
      const seen = new Set(out.map((v) => JSON.stringify(v)));
      for (const v of config as Value[]) if (!seen.has(JSON.stringify(v))) out.push(v);
      return out;
    }
    default:
      return config;
  }
}

/** `value` without the paths in `set` (whole subtrees go with their path, and objects they empty). */
export function removeItems(value: Value, set: FieldSet, schema: JsonSchema | undefined): Value {
  if (set.empty()) return value;
  const shape = shapeOf(schema, value);
  switch (shape.kind) {
    case 'object': {
      const out: Obj = {};
      for (const [k, v] of Object.entries(value as Obj)) {
        const element = `f:${k}`;
        if (set.members.has(element)) continue;
        const below = set.children.get(element);
        if (!below) {
          out[k] = v;
          continue;
        }
        // An object emptied by the removal goes too, as kube-apiserver's pruning leaves no husks.
        const kept = removeItems(v, below, shape.field(k));
        if (!(isObj(kept) && Object.keys(kept).length === 0)) out[k] = kept;
      }
      return out;
    }
    case 'keyed':
    case 'set': {
      const out: Value[] = [];
      for (const [element, item] of itemsOf(shape, value)) {
        if (set.members.has(element)) continue;
        const below = set.children.get(element);
        out.push(below && isObj(item) ? removeItems(item, below, itemSchema(shape)) : item);
      }
      return out;
    }
    default:
      return value;
  }
}
