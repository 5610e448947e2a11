/** Kubernetes resource quantities ("10Gi", "1.5G", "500M", 1024) as byte counts. */
const binary: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const decimal: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, m: 1e-3 };

/** Bytes (rounded up to an integer) or undefined when the text is not a quantity. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined || q === null) return undefined;
  if (typeof q === 'number') return Number.isFinite(q) ? Math.ceil(q) : undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E|m)|[eE]([+-]?\d+))?$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const suffix = m[2];
  const mult = m[3] !== undefined ? 10 ** Number(m[3]) : suffix ? (binary[suffix] ?? decimal[suffix] ?? 1) : 1;
  return Math.ceil(n * mult);
}

export const MiB = 2 ** 20;

export function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}

/**
 * CDI's GetUsableSpace: the bytes of a filesystem volume an image may use once the filesystem
 * overhead (a fraction, e.g. 0.055) is taken off, rounded down to whole MiB.
 */
export function usableSpace(available: number, filesystemOverhead: number): number {
  return Math.floor(Math.ceil((1 - filesystemOverhead) * available) / MiB) * MiB;
}

/** A byte count as the largest exact binary unit ("10Gi", "1536Mi", "1000"). */
export function formatQuantity(bytes: number): string {
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = binary[unit] ?? 1;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return String(bytes);
}
