/**
 * A set of field paths as structured-merge-diff keeps them: a trie whose edges are path elements
 * already in FieldsV1 spelling (`f:name`, `k:{"name":"a"}`, `v:"x"`, `i:0`). A node's `members`
 * are the paths that end there; `children` lead deeper. FieldsV1 is this trie as JSON, with `.`
 * marking a path that is both a member and a parent.
 */
export type FieldsV1 = { [element: string]: FieldsV1 };

export class FieldSet {
  readonly members = new Set<string>();
  readonly children = new Map<string, FieldSet>();

  static fromFieldsV1(json: unknown): FieldSet {
    const set = new FieldSet();
    if (json === null || typeof json !== 'object' || Array.isArray(json)) return set;
    for (const [element, value] of Object.entries(json as Record<string, unknown>)) {
      if (element === '.') continue;
      const child = FieldSet.fromFieldsV1(value);
      const isObject = value !== null && typeof value === 'object';
      const keys = isObject ? Object.keys(value) : [];
      if (keys.length === 0 || keys.includes('.')) set.members.add(element);
      if (!child.empty()) set.children.set(element, child);
    }
    return set;
  }

  toFieldsV1(): FieldsV1 {
    const out: FieldsV1 = {};
    for (const element of [...new Set([...this.members, ...this.children.keys()])].sort(compareElements)) {
      const child = this.children.get(element);
      const node: FieldsV1 = child ? child.toFieldsV1() : {};
      out[element] = child && this.members.has(element) ? { '.': {}, ...node } : node;
    }
    return out;
  }

  empty(): boolean {
    return this.members.size === 0 && this.children.size === 0;
  }

  insert(path: readonly string[]): void {
    if (path.length === 0) return;
    const parent = path.slice(0, -1).reduce<FieldSet>((node, element) => node.child(element), this);
    parent.members.add(path[path.length - 1]!);
  }

  private child(element: string): FieldSet {
    let c = this.children.get(element);
    if (!c) {
      c = new FieldSet();
      this.children.set(element, c);
    }
    return c;
  }

  /** The node holding the last element of `path`, if the set reaches that far. */
  private parentOf(path: readonly string[]): FieldSet | undefined {
    return path.slice(0, -1).reduce<FieldSet | undefined>((node, element) => node?.children.get(element), this);
  }

  /** True when the path or anything below it is in the set. */
  hasWithin(path: readonly string[]): boolean {
    const last = path[path.length - 1];
    const node = this.parentOf(path);
    return last !== undefined && node !== undefined && (node.members.has(last) || node.children.has(last));
  }

  union(other: FieldSet): FieldSet {
    const out = this.clone();
    out.addAll(other);
    return out;
  }

  private addAll(other: FieldSet): void {
    for (const m of other.members) this.members.add(m);
    for (const [k, c] of other.children) this.child(k).addAll(c);
  }

  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!other.members.has(m)) out.members.add(m);
    for (const [k, c] of this.children) {
      const o = other.children.get(k);
      const d = o ? c.difference(o) : c.clone();
      if (!d.empty()) out.children.set(k, d);
    }
    return out;
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (other.members.has(m)) out.members.add(m);
    for (const [k, c] of this.children) {
      const o = other.children.get(k);
      if (!o) continue;
      const i = c.intersection(o);
      if (!i.empty()) out.children.set(k, i);
    }
    return out;
  }

  /** Drops a whole subtree (`status`) or keeps only it. */
  without(element: string): FieldSet {
    const out = this.clone();
    out.members.delete(element);
    out.children.delete(element);
    return out;
  }

  only(element: string): FieldSet {
    const out = new FieldSet();
    if (this.members.has(element)) out.members.add(element);
    const c = this.children.get(element);
    if (c) out.children.set(element, c.clone());
    return out;
  }

  clone(): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) out.members.add(m);
    for (const [k, c] of this.children) out.children.set(k, c.clone());
    return out;
  }

  equals(other: FieldSet): boolean {
    return JSON.stringify(this.toFieldsV1()) === JSON.stringify(other.toFieldsV1());
  }

  /** Every member path, in the trie's sorted order. */
  paths(prefix: string[] = []): string[][] {
    const out: string[][] = [];
    for (const element of [...new Set([...this.members, ...this.children.keys()])].sort(compareElements)) {
      const path = [...prefix, element];
      if (this.members.has(element)) out.push(path);
      const child = this.children.get(element);
      if (child) out.push(...child.paths(path));
    }
    return out;
  }
}

/** structured-merge-diff orders elements by kind (field, key, value, index), then by text. */
const kindOrder: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };
function compareElements(a: string, b: string): number {
  const ka = kindOrder[a[0]!] ?? 4;
  const kb = kindOrder[b[0]!] ?? 4;
  if (ka !== kb) return ka - kb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A path as kube-apiserver prints it in conflicts: `.spec.containers[name="app"].image`. */
export function pathString(path: readonly string[]): string {
  return path
    .map((element) => {
      const body = element.slice(2);
      switch (element[0]) {
        case 'f':
          return `.${body}`;
        case 'k': {
          const key = JSON.parse(body) as Record<string, unknown>;
          return `[${Object.entries(key)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(',')}]`;
        }
        case 'v':
          return `[=${body}]`;
        default:
          return `[${body}]`;
      }
    })
    .join('');
}
