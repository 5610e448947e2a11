import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Gc = (options?: { type?: 'minor' | 'major'; execution?: 'sync' | 'async' }) => void;

/**
 * Keeps the worker's memory flat while it streams gigabytes. Every chunk of a download is a
 * short-lived Buffer outside the V8 heap, and V8 only collects those after external memory grew
 * by tens of MiB, so peak RSS would follow GC timing rather than what is live (bounded by the
 * engine's write queue and our read-ahead). Buffers that waited in the write queue are old by
 * then, so a full collection runs when they pile up past the limit: a few milliseconds per
 * ~64 MiB imported.
 */
export function boundBufferMemory(limitBytes = 64 << 20, everyMs = 250): () => void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as Gc | undefined;
  if (typeof gc !== 'function') return () => {};
  const timer = setInterval(() => {
    if (process.memoryUsage().arrayBuffers > limitBytes) gc({ type: 'major' });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
