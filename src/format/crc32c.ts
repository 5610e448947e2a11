/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), which VHDX uses for its headers, region
 * tables and log. Node has no built-in; the checksummed structures are small (4 KiB, 64 KiB), so a
 * byte-wise table is fast enough.
 */
const table = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  table[n] = c >>> 0;
}

export function crc32c(bytes: Uint8Array, seed = 0): number {
  let crc = ~seed >>> 0;
  for (let i = 0; i < bytes.byteLength; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}

/** CRC-32C of `bytes` as if the 4 bytes at `at` (where the stored checksum lives) were zero. */
export function crc32cWithHole(bytes: Uint8Array, at: number): number {
  const copy = new Uint8Array(bytes);
  copy.fill(0, at, at + 4);
  return crc32c(copy);
}
