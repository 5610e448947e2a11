/** Reading a VMDK from a byte stream: skipping and exact reads with coded truncation errors. */
import { CdiError } from '../../api/errors.ts';
import type { ByteSource } from '../byte-source.ts';

/** Drops bytes up to `host`; false when the stream ended first. */
export async function skipTo(src: ByteSource, host: number): Promise<boolean> {
  while (src.pos < host) {
    if (!(await src.take(host - src.pos))) return false;
  }
  return true;
}

/** Exactly `n` bytes (a view valid until the next read), or CDI_ERR_TRUNCATED. */
export async function exactly(src: ByteSource, n: number, what: string): Promise<Uint8Array> {
  const bytes = await src.read(n);
  if (bytes.byteLength < n) throw new CdiError('CDI_ERR_TRUNCATED', [`the stream ended inside the vmdk ${what} at offset ${src.pos}`]);
  return bytes;
}
