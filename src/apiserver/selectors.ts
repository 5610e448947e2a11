import { readPath, type KubeObject } from './kinds.ts';
import { badRequest } from './status.ts';

/**
 * Label and field selectors as the apiserver parses them. Labels: `k=v`, `k==v`, `k!=v`,
 * `k in (a,b)`, `k notin (a,b)`, `k`, `!k`. Fields: `path=v`, `path==v`, `path!=v` on any dotted
 * path of the object (metadata.name, metadata.namespace, involvedObject.uid, status.phase...).
 */
export type Matcher = (obj: KubeObject) => boolean;

const everything: Matcher = () => true;

type Requirement = { key: string; op: 'in' | 'notin' | 'exists' | '!exists'; values: string[] };

/** Splits on commas that are not inside parentheses. */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms.map((t) => t.trim()).filter((t) => t !== '');
}

function parseLabelTerm(term: string): Requirement {
  let m = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
  if (m) return { key: m[1]!, op: m[2] as 'in' | 'notin', values: m[3]!.split(',').map((v) => v.trim()) };
  m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
  if (m) return { key: m[1]!, op: m[2] === '!=' ? 'notin' : 'in', values: [m[3]!] };
  m = /^(!?)\s*([^\s!=(),]+)$/.exec(term);
  if (m) return { key: m[2]!, op: m[1] ? '!exists' : 'exists', values: [] };
  throw badRequest(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`);
}

function holds(req: Requirement, value: string | undefined): boolean {
  switch (req.op) {
    case 'in':
      return value !== undefined && req.values.includes(value);
    case 'notin':
      return value === undefined || !req.values.includes(value);
    case 'exists':
      return value !== undefined;
    case '!exists':
      return value === undefined;
  }
}

export function parseLabelSelector(selector: string | undefined | null): Matcher {
  if (!selector) return everything;
  const reqs = splitTerms(selector).map(parseLabelTerm);
  return (obj) => {
    const labels = obj.metadata?.labels ?? {};
    return reqs.every((r) => holds(r, Object.hasOwn(labels, r.key) ? labels[r.key] : undefined));
  };
}

/** A metav1.LabelSelector object (matchLabels, matchExpressions) as a matcher. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}

/** An unknown operator matches nothing; an empty selector matches what `empty` says (everything for webhooks, nothing for aggregation). */
export function labelSelectorMatcher(s: LabelSelector, empty: 'everything' | 'nothing'): Matcher {
  const terms = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    if (e.operator === 'In') terms.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') terms.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') terms.push(e.key);
    else if (e.operator === 'DoesNotExist') terms.push(`!${e.key}`);
    else return () => false;
  }
  if (terms.length === 0) return empty === 'everything' ? everything : () => false;
  return parseLabelSelector(terms.join(','));
}

function fieldString(v: unknown): string {
  if (v === undefined || v === null) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

export function parseFieldSelector(selector: string | undefined | null): Matcher {
  if (!selector) return everything;
  const reqs = splitTerms(selector).map((term) => {
    const m = /^([^\s!=]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${term}'`);
    return { path: m[1]!, negate: m[2] === '!=', value: m[3]!.trim() };
  });
  return (obj) => reqs.every((r) => (fieldString(readPath(obj, r.path)) === r.value) !== r.negate);
}
