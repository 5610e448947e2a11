import type { ConvertInput } from '../format/index.ts';
import type { ByteMeter } from './meter.ts';

/** An opened import source: what the engine reads, and what must happen once it has read it. */
export interface ImportSource {
  readonly input: ConvertInput;
  readonly meter: ByteMeter;
  /** A short description for logs (URL without credentials). */
  readonly description: string;
  /** Labels the target PVC should carry (registry images' KUBEVIRT_IO_ env entries), known once opened. */
  readonly labels?: Record<string, string>;
  /**
   * Called after the engine finished reading: drains and verifies what the engine did not need
   * (registry blob digests, a second disk file in a later layer). Throws when the import must fail.
   */
  complete(signal?: AbortSignal): Promise<void>;
  /** Releases connections. Safe to call more than once. */
  close(): Promise<void>;
}
