/**
 * Reads the protobuf wire format (varints, fixed 32/64-bit words, length-delimited runs) with every
 * length and offset checked against the buffer: a malformed body is a ProtobufError naming the
 * byte where it went wrong, never a read past the end.
 */
export class ProtobufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtobufError';
  }
}

export const WireType = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const;

const utf8 = new TextDecoder('utf-8');

export class WireReader {
  private readonly buf: Uint8Array;
  private pos: number;
  private readonly end: number;
  /** Where this reader's bytes start in the outermost buffer, for error offsets. */
  private readonly base: number;

  constructor(buf: Uint8Array, base = 0) {
    this.buf = buf;
    this.pos = 0;
    this.end = buf.length;
    this.base = base;
  }

  get done(): boolean {
    return this.pos >= this.end;
  }

  private fail(message: string, at = this.pos): never {
    throw new ProtobufError(`${message} at byte ${this.base + at}`);
  }

  /** An unsigned varint of up to 64 bits. */
  varint(): bigint {
    const start = this.pos;
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= this.end) this.fail('truncated varint', start);
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) {
        if (result >= 1n << 64n) this.fail('varint overflows 64 bits', start);
        return result;
      }
    }
    return this.fail('varint longer than 10 bytes', start);
  }

  tag(): { field: number; wireType: number } {
    const at = this.pos;
    const key = this.varint();
    const field = Number(key >> 3n);
    if (field === 0 || field > 0x1fffffff) this.fail(`invalid field number ${field}`, at);
    return { field, wireType: Number(key & 7n) };
  }

  int64(): number {
    const v = BigInt.asIntN(64, this.varint());
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) this.fail('integer beyond 53 bits');
    return Number(v);
  }

  int32(): number {
    return Number(BigInt.asIntN(32, this.varint()));
  }

  bool(): boolean {
    return this.varint() !== 0n;
  }

  double(): number {
    if (this.end - this.pos < 8) this.fail('truncated 64-bit value');
    const v = new DataView(this.buf.buffer, this.buf.byteOffset + this.pos, 8).getFloat64(0, true);
    this.pos += 8;
    return v;
  }

  /** A length-delimited run, as a view into the buffer. */
  bytes(): Uint8Array {
    const at = this.pos;
    const length = this.varint();
    if (length > BigInt(this.end - this.pos)) this.fail(`length ${length} runs past the end of the message`, at);
    const start = this.pos;
    this.pos += Number(length);
    return this.buf.subarray(start, this.pos);
  }

  string(): string {
    return utf8.decode(this.bytes());
  }

  /** A reader over an embedded message, reporting offsets in the outer buffer. */
  message(): WireReader {
    const bytes = this.bytes();
    return new WireReader(bytes, this.base + this.pos - bytes.length);
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WireType.varint:
        this.varint();
        return;
      case WireType.fixed64:
        if (this.end - this.pos < 8) this.fail('truncated 64-bit value');
        this.pos += 8;
        return;
      case WireType.bytes:
        this.bytes();
        return;
      case WireType.fixed32:
        if (this.end - this.pos < 4) this.fail('truncated 32-bit value');
        this.pos += 4;
        return;
      default:
        this.fail(`unsupported wire type ${wireType}`);
    }
  }

  /** Checks a field's wire type against what its declaration needs. */
  expect(field: number, wireType: number, wanted: number): void {
    if (wireType !== wanted) this.fail(`field ${field} has wire type ${wireType}, expected ${wanted}`);
  }
}
