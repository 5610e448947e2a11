import { describe, expect, it } from 'vitest';
import * as der from './der.ts';

describe('DER encoding', () => {
  it('encodes lengths in short and long form', () => {
    expect(der.octetString(Buffer.alloc(3)).subarray(0, 2)).toEqual(Buffer.from([0x04, 3]));
    expect(der.octetString(Buffer.alloc(200)).subarray(0, 3)).toEqual(Buffer.from([0x04, 0x81, 200]));
    expect(der.octetString(Buffer.alloc(300)).subarray(0, 4)).toEqual(Buffer.from([0x04, 0x82, 0x01, 0x2c]));
  });

  it('encodes object identifiers with base-128 arcs', () => {
    expect(der.objectIdentifier('1.2.840.10045.4.3.2')).toEqual(Buffer.from('06082a8648ce3d040302', 'hex'));
    expect(der.objectIdentifier('2.5.29.19')).toEqual(Buffer.from('0603551d13', 'hex'));
    expect(() => der.objectIdentifier('1')).toThrow(RangeError);
  });

  it('keeps integers positive and minimal', () => {
    expect(der.unsignedInteger(Buffer.from([0x00, 0x00, 0x7f]))).toEqual(Buffer.from([0x02, 1, 0x7f]));
    expect(der.unsignedInteger(Buffer.from([0x80]))).toEqual(Buffer.from([0x02, 2, 0x00, 0x80]));
    expect(der.smallInteger(2)).toEqual(Buffer.from([0x02, 1, 2]));
  });

  it('switches from UTCTime to GeneralizedTime in 2050', () => {
    expect(der.time(new Date('2049-12-31T23:59:59Z')).toString('latin1', 2)).toBe('491231235959Z');
    expect(der.time(new Date('2049-12-31T23:59:59Z'))[0]).toBe(0x17);
    expect(der.time(new Date('2050-01-01T00:00:00Z')).toString('latin1', 2)).toBe('20500101000000Z');
    expect(der.time(new Date('2050-01-01T00:00:00Z'))[0]).toBe(0x18);
  });
});
