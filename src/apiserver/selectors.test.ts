import { describe, expect, it } from 'vitest';
import { parseFieldSelector, parseLabelSelector } from './selectors.ts';

const obj = (labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({ metadata: { name: 'n1', namespace: 'ns', labels }, ...extra });

describe('selectors', () => {
  it('label selectors: equality, sets and existence', () => {
    const o = obj({ app: 'cdi', tier: 'gold' });
    const t = (s: string) => parseLabelSelector(s)(o);
    expect(t('app=cdi')).toBe(true);
    expect(t('app==cdi,tier!=silver')).toBe(true);
    expect(t('app in (x, cdi),tier notin (bronze)')).toBe(true);
    expect(t('app,!missing')).toBe(true);
    expect(t('app=other')).toBe(false);
    expect(t('!app')).toBe(false);
    expect(t('missing')).toBe(false);
    expect(t('missing!=x')).toBe(true);
    expect(t('')).toBe(true);
    expect(() => parseLabelSelector('a in b')).toThrow(expect.objectContaining({ code: 400 }));
  });

  it('field selectors on any dotted path', () => {
    const ev = obj({}, { involvedObject: { kind: 'DataVolume', name: 'dv1' }, status: { phase: 'Succeeded' } });
    expect(parseFieldSelector('metadata.name=n1,metadata.namespace=ns')(ev)).toBe(true);
    expect(parseFieldSelector('involvedObject.kind=DataVolume,involvedObject.name==dv1')(ev)).toBe(true);
    expect(parseFieldSelector('status.phase!=Succeeded')(ev)).toBe(false);
    expect(parseFieldSelector('spec.nodeName=')(ev)).toBe(true);
    expect(() => parseFieldSelector('nonsense')).toThrow(expect.objectContaining({ code: 400 }));
  });
});
