import { describe, expect, it } from 'vitest';
import { crc32c, crc32cWithHole } from './crc32c.ts';

describe('crc32c', () => {
  // check values from RFC 3720 (iSCSI) appendix B.4 and the CRC catalogue
  it.each([
    ['empty', new Uint8Array(0), 0x00000000],
    ['"123456789"', new TextEncoder().encode('123456789'), 0xe3069283],
    ['32 zero bytes', new Uint8Array(32), 0x8a9136aa],
    ['32 bytes of 0xff', new Uint8Array(32).fill(0xff), 0x62a8ab43],
    ['32 increasing bytes', Uint8Array.from({ length: 32 }, (_, i) => i), 0x46dd794e],
    ['32 decreasing bytes', Uint8Array.from({ length: 32 }, (_, i) => 31 - i), 0x113fdb5c],
  ])('%s', (_, bytes, expected) => {
    expect(crc32c(bytes)).toBe(expected);
  });

  it('continues from a seed as if the inputs were one', () => {
    const all = new TextEncoder().encode('123456789');
    expect(crc32c(all.subarray(4), crc32c(all.subarray(0, 4)))).toBe(0xe3069283);
  });

  it('treats the stored checksum field as zeros', () => {
    const bytes = Uint8Array.from({ length: 64 }, (_, i) => i * 7);
    const zeroed = new Uint8Array(bytes);
    zeroed.fill(0, 4, 8);
    expect(crc32cWithHole(bytes, 4)).toBe(crc32c(zeroed));
    expect(bytes[4]).toBe(28);
  });
});
