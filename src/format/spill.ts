/**
 * Scratch store of the one-pass reader: host byte ranges that went by before the table mapping
 * them was read. The most recent bytes stay in a small memory window; older ones go to a file in
 * the scratch directory (bounded by a limit); all-zero ranges are only remembered. The window
 * exists because `qemu-img convert -c` packs the first compressed clusters of a new L2 region
 * into the unused tail of the previous data cluster, just before the new L2 table: with it such
 * images need no scratch file. Ranges arrive in increasing host order, so file lookups are a
 * binary search over coalesced intervals.
 */
import { randomUUID } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CdiError } from '../api/errors.ts';

const ZEROS = new Uint8Array(64 * 1024);

export function isAllZero(bytes: Uint8Array): boolean {
  for (let at = 0; at < bytes.byteLength; at += ZEROS.byteLength) {
    const piece = bytes.subarray(at, at + ZEROS.byteLength);
    if (Buffer.compare(piece, ZEROS.subarray(0, piece.byteLength)) !== 0) return false;
  }
  return true;
}

export class SpillStore {
  private readonly dir: string;
  private readonly limit: number;
  private readonly starts: number[] = [];
  private readonly lengths: number[] = [];
  /** Offset in the scratch file, or -1 for a range known to be zeros. */
  private readonly at: number[] = [];
  private readonly windowBytes: number;
  private window: { host: number; bytes: Uint8Array }[] = [];
  private windowUsed = 0;
  private file: FileHandle | undefined;
  private filePath: string | undefined;
  private written = 0;

  constructor(dir: string, limit: number, windowBytes: number) {
    this.dir = dir;
    this.limit = limit;
    this.windowBytes = windowBytes;
  }

  /** Bytes written to the scratch file. */
  spilled(): number {
    return this.written;
  }

  async keep(host: number, bytes: Uint8Array): Promise<void> {
    if (isAllZero(bytes)) {
      this.add(host, bytes.byteLength, -1);
      return;
    }
    // a real copy: `bytes` may be a view into a big stream chunk (Buffer#slice would not copy)
    this.window.push({ host, bytes: new Uint8Array(bytes) });
    this.windowUsed += bytes.byteLength;
    while (this.windowUsed > this.windowBytes) {
      const oldest = this.window.shift()!;
      this.windowUsed -= oldest.bytes.byteLength;
      await this.toFile(oldest.host, oldest.bytes);
    }
  }

  private async toFile(host: number, bytes: Uint8Array): Promise<void> {
    if (this.written + bytes.byteLength > this.limit) throw new CdiError('CDI_ERR_SCRATCH_LIMIT', [this.limit]);
    if (!this.file) {
      this.filePath = path.join(this.dir, `qcow2-spill-${randomUUID()}`);
      this.file = await open(this.filePath, 'w+', 0o600);
    }
    const offset = this.written;
    this.written += bytes.byteLength;
    await this.file.write(bytes, 0, bytes.byteLength, offset);
    this.add(host, bytes.byteLength, offset);
  }

  private add(host: number, length: number, at: number): void {
    const last = this.starts.length - 1;
    if (last >= 0 && this.starts[last]! > host) {
      // a range leaving the window after later all-zero ranges were noted: keep the list sorted
      let i = last;
      while (i > 0 && this.starts[i - 1]! > host) i--;
      this.starts.splice(i, 0, host);
      this.lengths.splice(i, 0, length);
      this.at.splice(i, 0, at);
      return;
    }
    if (last >= 0 && this.starts[last]! + this.lengths[last]! === host) {
      const lastAt = this.at[last]!;
      if ((lastAt === -1 && at === -1) || (lastAt >= 0 && at === lastAt + this.lengths[last]!)) {
        this.lengths[last]! += length;
        return;
      }
    }
    this.starts.push(host);
    this.lengths.push(length);
    this.at.push(at);
  }

  /** Copies kept bytes at host offset `host` into `out` at `o`, at most `max`; 0 when `host` was not kept. */
  async copy(host: number, out: Uint8Array, o: number, max: number): Promise<number> {
    for (const w of this.window) {
      if (host >= w.host && host < w.host + w.bytes.byteLength) {
        const n = Math.min(max, w.host + w.bytes.byteLength - host);
        out.set(w.bytes.subarray(host - w.host, host - w.host + n), o);
        return n;
      }
    }
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const start = this.starts[mid]!;
      if (host < start) hi = mid - 1;
      else if (host >= start + this.lengths[mid]!) lo = mid + 1;
      else {
        const n = Math.min(max, start + this.lengths[mid]! - host);
        const at = this.at[mid]!;
        if (at === -1) out.fill(0, o, o + n);
        else {
          const { bytesRead } = await this.file!.read(out, o, n, at + host - start);
          if (bytesRead !== n) throw new CdiError('CDI_ERR_INTERNAL', ['scratch file is shorter than written']);
        }
        return n;
      }
    }
    return 0;
  }

  async close(): Promise<void> {
    this.window = [];
    const file = this.file;
    this.file = undefined;
    await file?.close();
    if (this.filePath) await rm(this.filePath, { force: true });
  }
}
