import { readPath, type KindInfo, type KubeObject } from './kinds.ts';

/**
 * Server-side printing: kubectl asks for `as=Table` and prints the columns it gets. Rows carry
 * the whole object (as `includeObject=Object` would) so `-o wide`, labels and namespaces work.
 */
export function wantsTable(accept: string | undefined): boolean {
  return !!accept && /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

/** kubectl's short ages: 45s, 12m, 5h3m, 3d, 2y. */
export function humanAge(timestamp: unknown, now = Date.now()): string {
  if (typeof timestamp !== 'string') return '<unknown>';
  const s = Math.max(0, Math.floor((now - Date.parse(timestamp)) / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ''}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  return d < 365 * 2 ? `${d}d` : `${Math.floor(d / 365)}y`;
}

function cell(value: unknown, type: string): unknown {
  if (type === 'date') return humanAge(value);
  if (value === undefined || value === null) return '';
  return typeof value === 'object' ? JSON.stringify(value) : value;
}

/** The Name cell; the default StorageClass reads `local (default)` as kube-apiserver prints it. */
function nameCell(info: KindInfo, obj: KubeObject): string {
  const name = obj.metadata?.name ?? '';
  const isDefault = obj.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true';
  return info.kind === 'StorageClass' && isDefault ? `${name} (default)` : name;
}

export function toTable(info: KindInfo, items: KubeObject[], resourceVersion: string, continueToken?: string): Record<string, unknown> {
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion, ...(continueToken ? { continue: continueToken } : {}) },
    columnDefinitions: [
      { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
      ...info.columns.map((c) => ({ name: c.name, type: c.type, format: '', description: c.name, priority: c.priority ?? 0 })),
    ],
    rows: items.map((obj) => ({
      cells: [nameCell(info, obj), ...info.columns.map((c) => cell(typeof c.path === 'function' ? c.path(obj) : readPath(obj, c.path), c.type))],
      object: obj,
    })),
  };
}
