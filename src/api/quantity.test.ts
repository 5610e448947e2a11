import { describe, expect, it } from 'vitest';
import { canonicalQuantity } from './quantity.ts';

describe("quantities in resource.Quantity's canonical form", () => {
  it('picks the largest exact unit of the input suffix family', () => {
    const cases: Array<[string | number, string]> = [
      ['1024Mi', '1Gi'],
      ['1536Mi', '1536Mi'],
      ['0.5Gi', '512Mi'],
      ['2179Mi', '2179Mi'],
      ['2284557073', '2284557073'],
      ['0.5Ki', '512'],
      ['1000', '1k'],
      ['1500', '1500'],
      ['1.5', '1500m'],
      ['0.1', '100m'],
      ['10G', '10G'],
      ['1000M', '1G'],
      ['1e3', '1e3'],
      ['1000e-3', '1'],
      ['1.1Gi', '1181116006400m'],
      ['0.0000000001', '1n'],
      ['-2048Ki', '-2Mi'],
      ['0Gi', '0'],
      [1024, '1024'],
      ['5Ei', '5Ei'],
      ['1024Ei', '1024Ei'],
    ];
    for (const [input, canonical] of cases) expect(canonicalQuantity(input), String(input)).toBe(canonical);
  });

  it('refuses what is not a quantity', () => {
    for (const bad of ['', 'Gi', '1GB', '1.2.3', 'ten', '1 Gi']) expect(canonicalQuantity(bad), bad).toBeUndefined();
  });
});
