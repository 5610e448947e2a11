import { describe, expect, it } from 'vitest';
import { ProtobufError, WireReader, WireType } from './wire-reader.ts';

const reader = (...bytes: number[]) => new WireReader(Uint8Array.from(bytes));

describe('protobuf wire reader', () => {
  it('reads varints up to 64 bits, signed int64 and int32 in two’s complement', () => {
    expect(reader(0x96, 0x01).varint()).toBe(150n);
    expect(reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).int64()).toBe(-1);
    expect(reader(0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).int32()).toBe(-2);
    expect(reader(0x08).tag()).toEqual({ field: 1, wireType: WireType.varint });
  });

  it('reads length-delimited runs and skips every wire type', () => {
    const r = reader(0x03, 0x61, 0x62, 0x63, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8, 0x2a);
    expect(r.string()).toBe('abc');
    r.skip(WireType.fixed32);
    r.skip(WireType.fixed64);
    r.skip(WireType.varint);
    expect(r.done).toBe(true);
  });

  it('refuses truncated varints, runs past the end, bad field numbers and groups with the byte offset', () => {
    expect(() => reader(0x96).varint()).toThrow(new ProtobufError('truncated varint at byte 0'));
    expect(() => reader(0x05, 0x61).bytes()).toThrow(new ProtobufError('length 5 runs past the end of the message at byte 0'));
    expect(() => reader(0x00).tag()).toThrow(new ProtobufError('invalid field number 0 at byte 0'));
    expect(() => reader(0x0b).skip(3)).toThrow(/unsupported wire type 3/);
    expect(() => reader(1, 2, 3).skip(WireType.fixed32)).toThrow(/truncated 32-bit value/);
    expect(() => reader(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01).varint()).toThrow(/varint/);
  });

  it('reports offsets of embedded messages in the outer buffer', () => {
    const outer = reader(0x0a, 0x02, 0x08, 0x80);
    outer.tag();
    const inner = outer.message();
    inner.tag();
    expect(() => inner.varint()).toThrow(new ProtobufError('truncated varint at byte 3'));
  });
});
