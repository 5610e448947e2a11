/**
 * Inflates batches of compressed clusters that share one input buffer. A batch worth it goes to
 * a worker thread when it is free, else runs on the main thread, so two cores inflate while the
 * main thread also keeps I/O moving; small batches run inline. The worker runs the codec's
 * source as plain JavaScript (`eval`), so it does not load the TypeScript loader: it costs a
 * few MiB instead of tens. It is shared by every reader in the process and does not keep it
 * alive while idle. (Two workers cost ~50 MiB more peak RSS for no gain on two cores.)
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CdiError } from '../../api/errors.ts';
import { inflateCluster, zstdFrameEnd, type Codec } from './decompress.ts';

const INLINE_BELOW = 64 * 1024;
/** Output bytes a worker produces between garbage collections. */
const GC_EVERY = 16 * 1024 * 1024;
/** One worker beside the main thread: two cores inflate, and only one extra isolate is paid for. */
const USE_WORKER = os.availableParallelism() > 1;
const WORKER_QUEUE = 2;

export interface InflateBatch {
  readonly codec: Codec;
  readonly clusterSize: number;
  readonly input: Uint8Array;
  /** Start and length of each compressed range inside `input`. */
  readonly starts: readonly number[];
  readonly lengths: readonly number[];
  /** The caller gives up `input` and its whole ArrayBuffer (never a pooled one): it may be moved to the worker. */
  readonly ownsInput?: boolean;
}

/** On success one buffer of `count * clusterSize` bytes, cluster i at `i * clusterSize`. */
export type BatchResult =
  | { readonly ok: true; readonly output: Uint8Array }
  | { readonly ok: false; readonly index: number; readonly message: string };

function inflateBatch(batch: InflateBatch, output: Uint8Array, inflate: typeof inflateCluster, frameEnd: typeof zstdFrameEnd): BatchResult {
  const cs = batch.clusterSize;
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
if (typeof globalThis.gc !== 'function') process.getBuiltinModule('node:v8').setFlagsFromString('--expose-gc');
const collectGarbage = globalThis.gc ?? process.getBuiltinModule('node:vm').runInNewContext('gc');
let sinceGc = 0;
parentPort.on('message', ({ id, batch, output }) => {
  const result = inflateBatch(batch, new Uint8Array(output), inflateCluster, zstdFrameEnd);
  // inflateRawSync allocates every cluster; V8 would let tens of MiB of them pile up per worker
  sinceGc += batch.starts.length * batch.clusterSize;
  if (sinceGc > ${GC_EVERY}) {
    sinceGc = 0;
    collectGarbage();
  }
  parentPort.postMessage({ id, result }, [output]);
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

let slot: Slot | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

function retire(dead: Slot, err: Error): void {
  if (slot === dead) slot = undefined;
  for (const [id, p] of pending) {
    if (p.slot !== dead) continue;
    pending.delete(id);
    p.reject(new CdiError('CDI_ERR_INTERNAL', [`inflate worker failed: ${err.message}`], { cause: err }));
  }
}

function startWorker(): Slot {
  const worker = new Worker(workerSource, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
  const self: Slot = { worker, busy: 0 };
  worker.on('message', (msg: { id: number; result: BatchResult }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (--self.busy === 0) worker.unref();
    const r = msg.result;
    p.resolve(r.ok ? { ok: true, output: new Uint8Array(r.output.buffer, r.output.byteOffset, r.output.byteLength) } : r);
  });
  worker.on('error', (err) => retire(self, err));
  worker.on('exit', (code) => retire(self, new Error(`exited with code ${code}`)));
  worker.unref();
  return self;
}

/** Inflates a batch: on the worker when it is free and the batch is worth the hop, else here. */
export function runInflateBatch(batch: InflateBatch): Promise<BatchResult> {
  // allocated here and lent to the worker, which fills it and moves it back
  // not zero-filled: a successful batch writes every byte; never pooled, so it can be moved
  const output: Uint8Array = Buffer.allocUnsafeSlow(batch.starts.length * batch.clusterSize);
  if (batch.input.byteLength < INLINE_BELOW) return Promise.resolve(inflateBatch(batch, output, inflateCluster, zstdFrameEnd));
  // the worker keeps one batch queued so it never waits for the main thread; past that the main
  // thread takes its turn
  if (!USE_WORKER || (slot !== undefined && slot.busy >= WORKER_QUEUE)) return Promise.resolve(inflateBatch(batch, output, inflateCluster, zstdFrameEnd));
  slot ??= startWorker();
  const id = nextId++;
  // the input's buffer is moved to the worker: never move one the caller may share (a Buffer
  // pool slab, or a view into a bigger chunk); copy instead
  const input = batch.ownsInput ? batch.input : new Uint8Array(batch.input);
  const target = slot;
  return new Promise<BatchResult>((resolve, reject) => {
    pending.set(id, { resolve, reject, slot: target });
    if (target.busy++ === 0) target.worker.ref();
    target.worker.postMessage(
      { id, batch: { codec: batch.codec, clusterSize: batch.clusterSize, input, starts: batch.starts, lengths: batch.lengths }, output: output.buffer },
      [input.buffer as ArrayBuffer, output.buffer as ArrayBuffer],
    );
  });
}
