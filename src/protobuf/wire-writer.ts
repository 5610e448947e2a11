/**
 * A protobuf wire-format writer: varints, length-delimited fields and doubles, enough to encode
 * a message by hand field number by field number. Nested messages are written by a child writer
 * and then added as bytes.
 */
export class WireWriter {
  private readonly parts: Buffer[] = [];
  private size = 0;

  private push(buf: Buffer): this {
    this.parts.push(buf);
    this.size += buf.length;
    return this;
  }

  private varint(value: number): this {
    const bytes: number[] = [];
    let v = value;
    while (v > 0x7f) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
    return this.push(Buffer.from(bytes));
  }

  private tag(field: number, wireType: 0 | 1 | 2): this {
    return this.varint(field * 8 + wireType);
  }

  /** A non-negative integer field (int64, uint32, enum), wire type 0. Zero is written too. */
  uint(field: number, value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`field ${field}: ${value} is not a non-negative integer`);
    return this.tag(field, 0).varint(value);
  }

  bool(field: number, value: boolean): this {
    return this.tag(field, 0).varint(value ? 1 : 0);
  }

  double(field: number, value: number): this {
    const buf = Buffer.alloc(8);
    buf.writeDoubleLE(value);
    return this.tag(field, 1).push(buf);
  }

  bytes(field: number, value: Uint8Array): this {
    return this.tag(field, 2).varint(value.length).push(Buffer.from(value));
  }

  string(field: number, value: string): this {
    return this.bytes(field, Buffer.from(value, 'utf8'));
  }

  /** An embedded message, written by `write` into a fresh writer. */
  message(field: number, write: (w: WireWriter) => void): this {
    const inner = new WireWriter();
    write(inner);
    return this.bytes(field, inner.finish());
  }

  finish(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}
