/** Worker thread body of the inflate pool: runs batches off the main thread. */
import { parentPort } from 'node:worker_threads';
import { inflateBatch, type InflateBatch } from './decompress.ts';

interface Request {
  readonly id: number;
  readonly batch: InflateBatch;
}

parentPort?.on('message', (req: Request) => {
  const result = inflateBatch(req.batch);
  if (result.ok) parentPort?.postMessage({ id: req.id, result }, [result.output.buffer as ArrayBuffer]);
  else parentPort?.postMessage({ id: req.id, result });
});
