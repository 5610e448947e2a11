/**
 * The union of byte ranges written so far, kept as sorted disjoint intervals. Targets that
 * must read as zeros where the image has no data (block devices, preallocated files) fill
 * the gaps at the end. Extents usually arrive in order, so inserts are appends.
 */
export class Coverage {
  readonly #starts: number[] = [];
  readonly #ends: number[] = [];

  add(start: number, end: number): void {
    if (end <= start) return;
    const starts = this.#starts;
    const ends = this.#ends;
    const last = starts.length - 1;
    if (last < 0 || start > ends[last]!) {
      starts.push(start);
      ends.push(end);
      return;
    }
    if (start >= starts[last]!) {
      ends[last] = Math.max(ends[last]!, end);
      return;
    }
    // Out of order: find the intervals this one touches and merge them.
    let lo = 0;
    while (lo < starts.length && ends[lo]! < start) lo++;
    let hi = lo;
    while (hi < starts.length && starts[hi]! <= end) hi++;
    const mergedStart = lo < hi ? Math.min(start, starts[lo]!) : start;
    const mergedEnd = lo < hi ? Math.max(end, ends[hi - 1]!) : end;
    starts.splice(lo, hi - lo, mergedStart);
    ends.splice(lo, hi - lo, mergedEnd);
  }

  /** The ranges of [0, size) not yet covered. */
  *gaps(size: number): Generator<{ start: number; end: number }> {
    let at = 0;
    for (let i = 0; i < this.#starts.length && at < size; i++) {
      const start = this.#starts[i]!;
      if (start > at) yield { start: at, end: Math.min(start, size) };
      at = Math.max(at, this.#ends[i]!);
    }
    if (at < size) yield { start: at, end: size };
  }
}
