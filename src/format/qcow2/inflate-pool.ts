/**
 * Inflates batches of compressed clusters that share one input buffer. A batch worth it goes to
 * a worker thread when it is free, else runs on the main thread, so two cores inflate while the
 * main thread also keeps I/O moving; small batches run inline. The worker runs the codec's
 * source as plain JavaScript (`eval`), so it does not load the TypeScript loader: it costs a
 * few MiB instead of tens. It is shared by every reader in the process and does not keep it
 * alive while idle. (Two workers cost ~50 MiB more peak RSS for no gain on two cores.)
 *
 * Inputs and outputs live in pooled shared memory: the worker decodes straight into the
 * output the caller then writes, nothing is moved or copied back, and each thread keeps one
 * decoder per codec, so a conversion allocates nothing per batch once the pools are warm.
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { CdiError } from '../../api/errors.ts';
import { BufferPool, sharedMemory, type Lease } from '../buffer-pool.ts';
import { openZlibHandle } from '../zlib-handle.ts';
import { openClusterDecoder, zstdFrameEnd, type ClusterDecoder, type Codec } from './decompress.ts';

const INLINE_BELOW = 64 * 1024;
/** One worker beside the main thread: two cores inflate, and only one extra isolate is paid for. */
const USE_WORKER = os.availableParallelism() > 1;
const WORKER_QUEUE = 2;
/** Output bytes of one batch that readers aim for: a pooled buffer each. */
const BATCH_OUTPUT = 2 * 1024 * 1024;
/** Compressed bytes of one batch that readers aim for. */
export const BATCH_INPUT = 1024 * 1024;

/** Clusters one batch may hold so that its output fits a pooled buffer (at least one). */
export function clustersPerBatch(clusterSize: number): number {
  return Math.max(1, Math.floor(BATCH_OUTPUT / clusterSize));
}

interface InflateBatch {
  readonly codec: Codec;
  readonly clusterSize: number;
  readonly input: Uint8Array;
  /** Start and length of each compressed range inside `input`. */
  readonly starts: readonly number[];
  readonly lengths: readonly number[];
  /** Bytes each range must inflate to, when not a whole cluster (a VMDK's last grain). */
  readonly outLengths?: readonly number[];
}

/**
 * On success one buffer of `count * clusterSize` bytes, cluster i at `i * clusterSize`, with one
 * hold on its lease for the caller (undefined for a batch too large for the pool).
 */
type BatchResult =
  | { readonly ok: true; readonly output: Uint8Array; readonly lease: Lease | undefined }
  | { readonly ok: false; readonly index: number; readonly message: string };

type Outcome = { readonly ok: true } | { readonly ok: false; readonly index: number; readonly message: string };

function inflateBatch(
  input: Uint8Array, starts: readonly number[], lengths: readonly number[], clusterSize: number, output: Uint8Array, decoder: ClusterDecoder,
  outLengths: readonly number[] | undefined,
): Outcome {
  for (let i = 0; i < starts.length; i++) {
    const start = starts[i]!;
    try {
      decoder.inflate(input.subarray(start, start + lengths[i]!), outLengths?.[i] ?? clusterSize, output, i * clusterSize);
    } catch (err) {
      return { ok: false, index: i, message: (err as Error).message };
    }
  }
  return { ok: true };
}

/** The worker's program; its helpers arrive as source text because the worker cannot import TypeScript. */
const workerSource = `
const openZlibHandle = ${openZlibHandle.toString()};
const zstdFrameEnd = ${zstdFrameEnd.toString()};
const openClusterDecoder = ${openClusterDecoder.toString()};
const inflateBatch = ${inflateBatch.toString()};
const { parentPort } = process.getBuiltinModule('node:worker_threads');
const decoders = {};
parentPort.on('message', ({ id, codec, clusterSize, input, starts, lengths, outLengths, output }) => {
  decoders[codec] ??= openClusterDecoder(codec, zstdFrameEnd, openZlibHandle);
  parentPort.postMessage({ id, outcome: inflateBatch(input, starts, lengths, clusterSize, output, decoders[codec], outLengths) });
});
`;

const outputs = new BufferPool(BATCH_OUTPUT, 6, sharedMemory);
const inputs = new BufferPool(BATCH_INPUT, 4, sharedMemory);

/** The main thread's decoders, one per codec, kept for the life of the process. */
const localDecoders = new Map<Codec, ClusterDecoder>();

function decoderHere(codec: Codec): ClusterDecoder {
  let decoder = localDecoders.get(codec);
  if (!decoder) {
    decoder = openClusterDecoder(codec);
    localDecoders.set(codec, decoder);
  }
  return decoder;
}

interface Slot {
  worker: Worker;
  busy: number;
}

interface Pending {
  resolve(outcome: Outcome): void;
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
  worker.on('message', (msg: { id: number; outcome: Outcome }) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (--self.busy === 0) worker.unref();
    p.resolve(msg.outcome);
  });
  worker.on('error', (err) => retire(self, err));
  worker.on('exit', (code) => retire(self, new Error(`exited with code ${code}`)));
  worker.unref();
  return self;
}

/** Decodes on the worker; the input is copied into shared memory the worker can read. */
function onWorker(target: Slot, batch: InflateBatch, output: Uint8Array): Promise<Outcome> {
  const input = inputs.take(batch.input.byteLength);
  input.bytes.set(batch.input);
  const id = nextId++;
  return new Promise<Outcome>((resolve, reject) => {
    pending.set(id, { resolve, reject, slot: target });
    if (target.busy++ === 0) target.worker.ref();
    target.worker.postMessage({
      id, codec: batch.codec, clusterSize: batch.clusterSize, input: input.bytes, starts: batch.starts, lengths: batch.lengths, outLengths: batch.outLengths, output,
    });
  }).finally(() => input.lease?.release());
}

/** Inflates a batch: on the worker when it is free and the batch is worth the hop, else here. */
export async function runInflateBatch(batch: InflateBatch): Promise<BatchResult> {
  // not zero-filled: a successful batch writes every byte
  const out = outputs.take(batch.starts.length * batch.clusterSize);
  // the worker keeps one batch queued so it never waits for the main thread; past that the main
  // thread takes its turn
  const here = batch.input.byteLength < INLINE_BELOW || !USE_WORKER || (slot !== undefined && slot.busy >= WORKER_QUEUE);
  let outcome: Outcome;
  try {
    if (here) outcome = inflateBatch(batch.input, batch.starts, batch.lengths, batch.clusterSize, out.bytes, decoderHere(batch.codec), batch.outLengths);
    else {
      slot ??= startWorker();
      outcome = await onWorker(slot, batch, out.bytes);
    }
  } catch (err) {
    out.lease?.release();
    throw err;
  }
  if (!outcome.ok) {
    out.lease?.release();
    return outcome;
  }
  return { ok: true, output: out.bytes, lease: out.lease };
}
