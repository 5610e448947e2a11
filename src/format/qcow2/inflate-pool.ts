/**
 * Inflates batches of compressed clusters that share one input buffer. Batches worth it go to
 * worker threads (one per core, at most two) so inflating runs beside the main thread's I/O;
 * small ones run inline. The workers run the codec's source as plain JavaScript (`eval`), so
 * they do not load the TypeScript loader: each costs a few MiB instead of tens. They are shared
 * by every reader in the process and do not keep it alive while idle.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CdiError } from '../../api/errors.ts';
import { inflateCluster, zstdFrameEnd, type Codec } from './decompress.ts';

const INLINE_BELOW = 64 * 1024;
const WORKERS = Math.max(1, Math.min(2, os.availableParallelism()));

export interface InflateBatch {
  readonly codec: Codec;
  readonly clusterSize: number;
  readonly input: Uint8Array;
  /** Start and length of each compressed range inside `input`. */
  readonly starts: readonly number[];
  readonly lengths: readonly number[];
}

/** On success one buffer of `count * clusterSize` bytes, cluster i at `i * clusterSize`. */
export type BatchResult =
  | { readonly ok: true; readonly output: Uint8Array }
  | { readonly ok: false; readonly index: number; readonly message: string };

function inflateBatch(batch: InflateBatch, inflate: typeof inflateCluster, frameEnd: typeof zstdFrameEnd): BatchResult {
  const cs = batch.clusterSize;
  const output = new Uint8Array(batch.starts.length * cs);
  for (let i = 0; i < batch.starts.length; i++) {
    const start = batch.starts[i]!;
    try {
      inflate(batch.codec, batch.input.subarray(start, start + batch.lengths[i]!), cs, output, i * cs, frameEnd);
    } catch (err) {
      return { ok: false, index: i, message: (err as Error).message };
    }
  }
  return { ok: true, output };
}

/** The worker's program; its helpers arrive as source text because the worker cannot import TypeScript. */
const workerSource = `
const inflateCluster = ${inflateCluster.toString()};
const zstdFrameEnd = ${zstdFrameEnd.toString()};
const inflateBatch = ${inflateBatch.toString()};
const { parentPort } = process.getBuiltinModule('node:worker_threads');
parentPort.on('message', ({ id, batch }) => {
  const result = inflateBatch(batch, inflateCluster, zstdFrameEnd);
  if (result.ok) parentPort.postMessage({ id, result }, [result.output.buffer]);
  else parentPort.postMessage({ id, result });
});
`;

interface Slot {
  worker: Worker;
  busy: number;
}

interface Pending {
  resolve(result: BatchResult): void;
  reject(err: Error): void;
  slot: Slot;
}

let slots: Slot[] = [];
let nextId = 1;
const pending = new Map<number, Pending>();

function retire(slot: Slot, err: Error): void {
  slots = slots.filter((s) => s !== slot);
  for (const [id, p] of pending) {
    if (p.slot !== slot) continue;
    pending.delete(id);
    p.reject(new CdiError('CDI_ERR_INTERNAL', [`inflate worker failed: ${err.message}`], { cause: err }));
  }
}

function startWorker(): Slot {
  const worker = new Worker(workerSource, { eval: true });
  const slot: Slot = { worker, busy: 0 };
  worker.on('message', (msg: { id: number; result: BatchResult }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (--slot.busy === 0) worker.unref();
    const r = msg.result;
    p.resolve(r.ok ? { ok: true, output: new Uint8Array(r.output.buffer, r.output.byteOffset, r.output.byteLength) } : r);
  });
  worker.on('error', (err) => retire(slot, err));
  worker.on('exit', (code) => retire(slot, new Error(`exited with code ${code}`)));
  worker.unref();
  return slot;
}

function pickSlot(): Slot {
  if (slots.length < WORKERS) slots.push(startWorker());
  return slots.reduce((a, b) => (b.busy < a.busy ? b : a));
}

/** Inflates a batch, on a worker when it is big enough to be worth the hop. */
export function runInflateBatch(batch: InflateBatch): Promise<BatchResult> {
  if (batch.input.byteLength < INLINE_BELOW) return Promise.resolve(inflateBatch(batch, inflateCluster, zstdFrameEnd));
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
