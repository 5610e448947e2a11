import type { Leased, Lease } from './buffer-pool.ts';
import type { Extent } from './extent.ts';

/**
 * A source that can be read at any offset: a local file, or an HTTP server that honours Range.
 * `read` returns exactly `length` bytes or throws CDI_ERR_TRUNCATED.
 */
export interface RandomAccessInput {
  readonly size: number;
  /** Bytes per data read that suit this input, when it prefers reads smaller than a reader's default. */
  readonly readSize?: number;
  read(offset: number, length: number, signal?: AbortSignal): Promise<Uint8Array>;
  /** As `read`, into a pooled buffer the caller holds one lease on (optional: local files). */
  readLeased?(offset: number, length: number, signal?: AbortSignal): Promise<Leased>;
  /** The bytes from `offset` to the end, as a stream (used when a reader wants sequential access). */
  stream(offset: number, signal?: AbortSignal): AsyncIterable<Uint8Array>;
}

/** Where converted guest bytes go: a file, a block device, or a test buffer. */
export interface ExtentSink {
  /** Bytes the target may hold; writes past it throw CDI_ERR_TOO_LARGE. */
  readonly capacity: number;
  write(offset: number, data: Uint8Array, lease?: Lease): Promise<void>;
  /**
   * True when `write` retains `lease` until the bytes are written and releases it then; only
   * then may the caller release its own hold right after `write` resolves.
   */
  readonly releasesLeases?: boolean;
  /** A run known to read as zeros in the image. A sparse file target skips it. */
  writeZeros(offset: number, length: number): Promise<void>;
  /** Sets the final size (the image's virtual size, grown to the requested size), then fsyncs. */
  finish(size: number): Promise<void>;
  /** Removes or invalidates what was written so the target never looks complete. */
  abort(): Promise<void>;
}

/** A disk image format reader: header first, then the guest extents. */
export interface ImageReader {
  readonly format: 'qcow2' | 'vmdk' | 'vdi' | 'vhd' | 'vhdx' | 'raw' | 'iso';
  /** Known before any extent for qcow2, vmdk, vdi, VHD and VHDX; for a raw stream it is known only at the end. */
  readonly virtualSize: number | undefined;
  extents(): AsyncIterable<Extent>;
  /** Bytes spilled to scratch so far (one-pass readers only; 0 otherwise). */
  spillBytes(): number;
}

export interface ProgressEvent {
  readonly stage: string;
  /** Bytes of the source consumed so far (before decompression). */
  readonly sourceBytes: number;
  /** Total source bytes when known. */
  readonly sourceTotal: number | undefined;
  /** Guest bytes written to the target so far. */
  readonly writtenBytes: number;
}
