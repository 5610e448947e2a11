/**
 * Format detection by magic bytes, in the order CDI matches them (pkg/image/filefmt.go), plus
 * ISO 9660, which CDI's 512-byte window cannot see. Anything unmatched is raw.
 */
export type Compression = 'gzip' | 'xz' | 'zstd';
export type Detected = Compression | 'qcow2' | 'vmdk' | 'vhd' | 'vhdx' | 'vdi' | 'tar' | 'iso' | 'raw';

interface Magic {
  readonly format: Exclude<Detected, 'raw'>;
  readonly offset: number;
  readonly bytes: Uint8Array;
  /** Bits of the first byte that may vary (zstd skippable frames use 0x184D2A50..5F). */
  readonly firstByteMask?: number;
}

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

const magics: readonly Magic[] = [
  { format: 'gzip', offset: 0, bytes: Uint8Array.of(0x1f, 0x8b) },
  { format: 'zstd', offset: 0, bytes: Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd) },
  { format: 'zstd', offset: 0, bytes: Uint8Array.of(0x50, 0x2a, 0x4d, 0x18), firstByteMask: 0xf0 },
  { format: 'xz', offset: 0, bytes: Uint8Array.of(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00) },
  { format: 'qcow2', offset: 0, bytes: Uint8Array.of(0x51, 0x46, 0x49, 0xfb) },
  { format: 'vmdk', offset: 0, bytes: ascii('KDMV') },
  { format: 'vmdk', offset: 0, bytes: ascii('COWD') },
  { format: 'vmdk', offset: 0, bytes: ascii('# Disk DescriptorFile') },
  { format: 'vdi', offset: 0x40, bytes: Uint8Array.of(0x7f, 0x10, 0xda, 0xbe) },
  { format: 'vhd', offset: 0, bytes: ascii('conectix') },
  { format: 'vhdx', offset: 0, bytes: ascii('vhdxfile') },
  { format: 'tar', offset: 0x101, bytes: ascii('ustar') },
  { format: 'iso', offset: 0x8001, bytes: ascii('CD001') },
];

/** Bytes to peek so that every magic in the table can be seen. */
export const sniffLength = 0x8001 + 5;

export function isCompression(format: Detected): format is Compression {
  return format === 'gzip' || format === 'xz' || format === 'zstd';
}

export function sniff(head: Uint8Array): Detected {
  for (const magic of magics) {
    if (matches(head, magic)) return magic.format;
  }
  return 'raw';
}

function matches(head: Uint8Array, magic: Magic): boolean {
  const { offset, bytes } = magic;
  if (head.byteLength < offset + bytes.byteLength) return false;
  for (let i = 0; i < bytes.byteLength; i++) {
    const mask = i === 0 && magic.firstByteMask !== undefined ? magic.firstByteMask : 0xff;
    if ((head[offset + i]! & mask) !== (bytes[i]! & mask)) return false;
  }
  return true;
}
