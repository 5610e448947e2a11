import { describe, expect, it } from 'vitest';
import { peek } from './peek.ts';
import { sniff, sniffLength } from './sniff.ts';

const at = (offset: number, bytes: number[] | string, length = sniffLength): Uint8Array => {
  const head = new Uint8Array(length);
  head.set(typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes, offset);
  return head;
};

describe('sniff', () => {
  it.each([
    ['gzip', at(0, [0x1f, 0x8b, 0x08])],
    ['xz', at(0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
    ['zstd', at(0, [0x28, 0xb5, 0x2f, 0xfd])],
    ['zstd', at(0, [0x5e, 0x2a, 0x4d, 0x18])],
    ['qcow2', at(0, [0x51, 0x46, 0x49, 0xfb, 0, 0, 0, 3])],
    ['vmdk', at(0, 'KDMV')],
    ['vmdk', at(0, '# Disk DescriptorFile\n')],
    ['vhd', at(0, 'conectix')],
    ['vhdx', at(0, 'vhdxfile')],
    ['vdi', at(0x40, [0x7f, 0x10, 0xda, 0xbe])],
    ['tar', at(0x101, 'ustar\u000000')],
    ['iso', at(0x8001, 'CD001')],
    ['raw', at(0, [0xeb, 0x63, 0x90])],
  ])('recognises %s', (format, head) => {
    expect(sniff(head)).toBe(format);
  });

  it('calls a short input raw unless a magic fits in it', () => {
    expect(sniff(new Uint8Array([0x1f]))).toBe('raw');
    expect(sniff(new Uint8Array([0x1f, 0x8b]))).toBe('gzip');
    expect(sniff(at(0x8001, 'CD00', 0x8005))).toBe('raw');
  });
});

describe('peek', () => {
  async function* chunks(sizes: number[]): AsyncGenerator<Uint8Array> {
    let n = 0;
    for (const size of sizes) yield Uint8Array.from({ length: size }, () => n++ & 0xff);
  }
  const collect = async (stream: AsyncIterable<Uint8Array>): Promise<number[]> => {
    const out: number[] = [];
    for await (const c of stream) out.push(...c);
    return out;
  };

  it('returns the head and replays every byte', async () => {
    const { head, stream } = await peek(chunks([3, 0, 5, 7, 2]), 6);
    expect([...head]).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(await collect(stream)).toEqual(Array.from({ length: 17 }, (_, i) => i));
  });

  it('gives everything when the source is shorter than asked', async () => {
    const { head, stream } = await peek(chunks([2, 1]), 100);
    expect(head.byteLength).toBe(3);
    expect(await collect(stream)).toEqual([0, 1, 2]);
  });
});
