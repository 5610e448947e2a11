import { describe, expect, it } from 'vitest';
import { WireWriter } from './wire-writer.ts';

describe('WireWriter', () => {
  it('writes the protobuf encoding guide examples byte for byte', () => {
    expect(new WireWriter().uint(1, 150).finish().toString('hex')).toBe('089601');
    expect(new WireWriter().string(2, 'testing').finish().toString('hex')).toBe('120774657374696e67');
    expect(new WireWriter().message(3, (m) => m.uint(1, 150)).finish().toString('hex')).toBe('1a03089601');
  });

  it('writes booleans, doubles, large varints and refuses what uint cannot hold', () => {
    expect(new WireWriter().bool(4, true).double(5, 1.5).finish().toString('hex')).toBe('2001' + '29' + '000000000000f83f');
    expect(new WireWriter().uint(1, 2 ** 40).finish().toString('hex')).toBe('08808080808020');
    expect(() => new WireWriter().uint(1, -1)).toThrow(RangeError);
  });
});
