/** All-zero detection by memcmp against a shared zero buffer (no per-byte JavaScript loop). */
const zeros = Buffer.alloc(1 << 20);

export function isAllZero(data: Uint8Array): boolean {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at < view.byteLength; at += zeros.byteLength) {
    const length = Math.min(zeros.byteLength, view.byteLength - at);
    if (!view.subarray(at, at + length).equals(zeros.subarray(0, length))) return false;
  }
  return true;
}

/** A run of `data` that is either all zeros or holds data, at `granule` granularity. */
export interface Run {
  readonly start: number;
  readonly end: number;
  readonly zero: boolean;
}

/** Splits a block into alternating data and zero runs so zero runs can stay holes. */
export function* zeroRuns(data: Uint8Array, granule: number): Generator<Run> {
  if (isAllZero(data)) {
    yield { start: 0, end: data.byteLength, zero: true };
    return;
  }
  let runStart = 0;
  let runZero: boolean | undefined;
  for (let at = 0; at < data.byteLength; at += granule) {
    const end = Math.min(at + granule, data.byteLength);
    const zero = isAllZero(data.subarray(at, end));
    if (runZero !== undefined && zero !== runZero) {
      yield { start: runStart, end: at, zero: runZero };
      runStart = at;
    }
    runZero = zero;
  }
  yield { start: runStart, end: data.byteLength, zero: runZero ?? true };
}
