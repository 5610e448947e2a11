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

/**
 * Formats qemu-img probes by magic but CDI's validation refuses (it accepts raw, qcow2, vmdk, vdi,
 * vpc and vhdx only). Without this table their bytes would be written out as a raw disk.
 */
const refusedMagics: ReadonlyArray<{ readonly format: string; readonly offset: 0; readonly bytes: Uint8Array }> = [
  { format: 'qed', offset: 0, bytes: Uint8Array.of(0x51, 0x45, 0x44, 0x00) },
  { format: 'luks', offset: 0, bytes: Uint8Array.of(0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe) },
  { format: 'parallels', offset: 0, bytes: ascii('WithoutFreeSpace') },
  { format: 'parallels', offset: 0, bytes: ascii('WithouFreSpacExt') },
  { format: 'bochs', offset: 0, bytes: ascii('Bochs Virtual HD Image') },
  { format: 'cloop', offset: 0, bytes: ascii('#!/bin/sh\n#V2.0 Format\n') },
];

/** The qemu-img format name of an image CDI refuses, for a head that `sniff` calls raw. */
export function refusedFormat(head: Uint8Array): string | undefined {
  return refusedMagics.find((magic) => matches(head, magic))?.format;
}

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

function matches(head: Uint8Array, magic: Pick<Magic, 'offset' | 'bytes' | 'firstByteMask'>): boolean {
  const { offset, bytes } = magic;
  if (head.byteLength < offset + bytes.byteLength) return false;
  for (let i = 0; i < bytes.byteLength; i++) {
    const mask = i === 0 && magic.firstByteMask !== undefined ? magic.firstByteMask : 0xff;
    if ((head[offset + i]! & mask) !== (bytes[i]! & mask)) return false;
  }
  return true;
}
