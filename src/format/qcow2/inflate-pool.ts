/**
 * Spreads compressed-cluster batches over worker threads (one per core, at most two) so
 * inflating runs beside the main thread's I/O. Small batches run inline: a worker round trip
 * costs more than they do. Workers are shared by every reader in the process and do not keep
 * it alive while idle.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { inflateBatch, type BatchResult, type InflateBatch } from './decompress.ts';

const INLINE_BELOW = 64 * 1024;
const WORKERS = Math.max(1, Math.min(2, os.availableParallelism()));

interface Slot {
  worker: Worker;
  busy: number;
}

interface Pending {
  resolve(result: BatchResult): void;
  reject(err: Error): void;
  slot: Slot;
}

let slots: Slot[] | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

function failAll(slot: Slot, err: Error): void {
  for (const [id, p] of pending) {
    if (p.slot !== slot) continue;
    pending.delete(id);
    p.reject(err);
  }
  slots = slots?.filter((s) => s !== slot);
}

function startWorker(): Slot {
  const worker = new Worker(new URL('./inflate-worker.ts', import.meta.url));
  const slot: Slot = { worker, busy: 0 };
  worker.on('message', (msg: { id: number; result: BatchResult }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (--slot.busy === 0) worker.unref();
    const r = msg.result;
    p.resolve(r.ok ? { ok: true, output: new Uint8Array(r.output.buffer, r.output.byteOffset, r.output.byteLength) } : r);
  });
  worker.on('error', (err) => failAll(slot, err));
  worker.on('exit', () => failAll(slot, new Error('inflate worker exited')));
  worker.unref();
  return slot;
}

function pickSlot(): Slot {
  slots ??= [];
  if (slots.length < WORKERS) slots.push(startWorker());
  return slots.reduce((a, b) => (b.busy < a.busy ? b : a));
}

/** Inflates a batch, on a worker when it is big enough to be worth the hop. */
export function runInflateBatch(batch: InflateBatch): Promise<BatchResult> {
  if (batch.input.byteLength < INLINE_BELOW) return Promise.resolve(inflateBatch(batch));
  const slot = pickSlot();
  const id = nextId++;
  const whole = batch.input.byteOffset === 0 && batch.input.byteLength === batch.input.buffer.byteLength;
  const input = whole ? batch.input : batch.input.slice();
  return new Promise<BatchResult>((resolve, reject) => {
    pending.set(id, { resolve, reject, slot });
    if (slot.busy++ === 0) slot.worker.ref();
    slot.worker.postMessage({ id, batch: { ...batch, input } }, [input.buffer as ArrayBuffer]);
  });
}
