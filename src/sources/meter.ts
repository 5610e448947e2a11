/**
 * Counts source bytes as they arrive from the network, so the worker can report progress for
 * every source (CDI only has byte progress for HTTP).
 */
export class ByteMeter {
  done = 0;
  total: number | undefined;

  constructor(total?: number) {
    this.total = total;
  }

  add(bytes: number): void {
    this.done += bytes;
  }

  /** Percent of the known total, below 100 until the worker says the import is complete. */
  percent(): number | undefined {
    if (!this.total) return undefined;
    return Math.min(99.99, (this.done / this.total) * 100);
  }
}
