import { describe, expect, it } from 'vitest';
import { normalizeTime, rfc3339, rfc3339Micro } from './time.ts';

describe('Kubernetes times', () => {
  it('formats metav1.Time with whole seconds and MicroTime with six digits', () => {
    const d = new Date(Date.UTC(2026, 11, 3, 7, 39, 27, 158));
    expect(rfc3339(d)).toBe('2026-12-03T07:39:27Z');
    expect(rfc3339Micro(d)).toBe('2026-12-03T07:39:27.158000Z');
  });

  it('re-renders RFC 3339 in UTC, cutting or padding the fraction, and refuses anything else', () => {
    expect(normalizeTime('2026-12-03T07:39:27.158Z', false)).toBe('2026-12-03T07:39:27Z');
    expect(normalizeTime('2026-12-03T08:39:27.1234567+01:00', true)).toBe('2026-12-03T07:39:27.123456Z');
    expect(normalizeTime('2026-12-03T07:39:27Z', true)).toBe('2026-12-03T07:39:27.000000Z');
    expect(normalizeTime('2026-12-03 07:39:27', false)).toBeUndefined();
    expect(normalizeTime('yesterday', true)).toBeUndefined();
  });
});
