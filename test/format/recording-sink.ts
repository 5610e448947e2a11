/** An ExtentSink that records what reached it, to prove nothing was written past the capacity. */
import { CdiError } from '../../src/api/errors.ts';
import type { ExtentSink } from '../../src/format/index.ts';

export class RecordingSink implements ExtentSink {
  readonly capacity: number;
  maxEnd = 0;
  dataBytes = 0;
  finished: number | undefined;
  aborted = false;

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  async write(offset: number, data: Uint8Array): Promise<void> {
    this.#record(offset + data.byteLength);
    this.dataBytes += data.byteLength;
  }

  async writeZeros(offset: number, length: number): Promise<void> {
    this.#record(offset + length);
  }

  async finish(size: number): Promise<void> {
    this.finished = size;
  }

  async abort(): Promise<void> {
    this.aborted = true;
  }

  #record(end: number): void {
    if (end > this.capacity) throw new CdiError('CDI_ERR_INTERNAL', [`write to ${end} reached the sink past capacity ${this.capacity}`]);
    this.maxEnd = Math.max(this.maxEnd, end);
  }
}
