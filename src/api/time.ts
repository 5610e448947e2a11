/**
 * Kubernetes' two time formats: metav1.Time is RFC 3339 in UTC with whole seconds
 * ("2026-12-03T07:39:27Z"); metav1.MicroTime, used only by Event eventTime/series and Lease
 * acquireTime/renewTime, keeps six fractional digits ("2026-12-03T07:39:27.158000Z").
 */
export function rfc3339(d: Date = new Date()): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

export function rfc3339Micro(d: Date = new Date()): string {
  return `${d.toISOString().slice(0, 23)}000Z`;
}

const layout = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/i;

/**
 * Re-renders an RFC 3339 timestamp (any offset, any fraction) in UTC as Time or MicroTime;
 * undefined when the text is not one. Sub-microsecond digits are cut, as Go's formatting does.
 */
export function normalizeTime(text: string, micro: boolean): string | undefined {
  const m = layout.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}${m[3]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  const whole = new Date(ms).toISOString().slice(0, 19);
  if (!micro) return `${whole}Z`;
  return `${whole}.${(m[2] ?? '').padEnd(6, '0').slice(0, 6)}Z`;
}
