import { describe, expect, it } from 'vitest';
import { base64ErrorOffset } from './config-data.ts';

describe("base64 as Go's StdEncoding decodes it", () => {
  it('accepts padded base64, with newlines anywhere', () => {
    for (const ok of ['', 'YQ==', 'YWI=', 'YWJj', 'YWJj\nZGVm', 'YQ=\n=', 'YWI=\r\n']) expect(base64ErrorOffset(ok)).toBe(-1);
  });

  it('reports the offset Go reports for each kind of bad input', () => {
    expect(base64ErrorOffset('!!!!')).toBe(0);
    expect(base64ErrorOffset('YWJ!')).toBe(3);
    expect(base64ErrorOffset('YQ')).toBe(0); // unpadded: the incomplete quantum's start
    expect(base64ErrorOffset('YWJjZA')).toBe(4);
    expect(base64ErrorOffset('Y===')).toBe(1); // padding after one symbol
    expect(base64ErrorOffset('YQ=')).toBe(3); // "=" where "==" is needed
    expect(base64ErrorOffset('YQ=x')).toBe(2);
    expect(base64ErrorOffset('YWI=YWJj')).toBe(4); // data after padding
    expect(base64ErrorOffset('hello world')).toBe(5);
  });
});
