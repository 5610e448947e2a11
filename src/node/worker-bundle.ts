import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { WorkerImages } from '../api/images.ts';
import type { Logger } from '../api/logger.ts';

/**
 * The worker bundles (docs/adr/0032): each worker main and everything it imports, npm packages
 * included, as one JavaScript file under dist/workers/, built by scripts/build-workers.ts at
 * install time. A bundle starts a worker in about half the CPU of the TypeScript tree on a cold
 * compile cache (no type stripping, one file instead of ~300). The manifest records every file
 * a bundle was built from; a bundle whose inputs changed since is stale and never runs: the node
 * agent then runs the worker's source and says why.
 */
export const workerBundleDir = (root: string): string => path.join(root, 'dist', 'workers');
export const workerBundleManifestPath = (root: string): string => path.join(workerBundleDir(root), 'manifest.json');

/** The entries that are bundled: the CDI workers (the VM launcher runs its source). */
export const bundledEntries: readonly string[] = Object.values(WorkerImages).map((image) => image.entry);

/** One input file as it was when the bundle was built. */
export interface BundleInput {
  size: number;
  mtimeMs: number;
  sha256: string;
}

export interface WorkerBundleManifest {
  version: 1;
  /** Per entry (relative to the project root, e.g. `importer/main.ts`). */
  bundles: Record<string, {
    /** File name under dist/workers/. */
    file: string;
    /** Its size: a bundle file replaced by hand is not the one the manifest vouches for. */
    size: number;
    /** Every file it was built from, relative to the project root. */
    inputs: Record<string, BundleInput>;
  }>;
}

export type BundleCheck = { fresh: true; file: string } | { fresh: false; why: string };

export async function describeInput(root: string, file: string): Promise<BundleInput> {
  const abs = path.join(root, file);
  const [info, bytes] = await Promise.all([fs.promises.stat(abs), fs.promises.readFile(abs)]);
  return { size: info.size, mtimeMs: info.mtimeMs, sha256: createHash('sha256').update(bytes).digest('hex') };
}

async function readManifest(root: string): Promise<WorkerBundleManifest | undefined> {
  const text = await fs.promises.readFile(workerBundleManifestPath(root), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const manifest = JSON.parse(text) as WorkerBundleManifest;
    return manifest.version === 1 && typeof manifest.bundles === 'object' ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Unchanged when size and mtime match; otherwise (a checkout touches mtimes) by content. The
 * stat is synchronous: a bundle has hundreds of inputs, and through the thread pool the whole
 * check took 16-30 ms per spawn, synchronously ~9 ms (the upload server's 416 inputs).
 */
async function inputChanged(root: string, file: string, built: BundleInput): Promise<boolean> {
  const info = fs.statSync(path.join(root, file), { throwIfNoEntry: false });
  if (!info) return true;
  if (info.size !== built.size) return true;
  if (info.mtimeMs === built.mtimeMs) return false;
  return (await describeInput(root, file)).sha256 !== built.sha256;
}

/** Whether `entry`'s bundle exists and was built from the files that are there now. */
export async function checkWorkerBundle(root: string, entry: string): Promise<BundleCheck> {
  const manifest = await readManifest(root);
  if (!manifest) return { fresh: false, why: 'the worker bundles are not built (no readable dist/workers/manifest.json)' };
  const bundle = manifest.bundles[entry];
  if (!bundle) return { fresh: false, why: `dist/workers has no bundle of ${entry}` };
  const file = path.join(workerBundleDir(root), bundle.file);
  const info = await fs.promises.stat(file).catch(() => undefined);
  if (info?.size !== bundle.size) return { fresh: false, why: `${path.relative(root, file)} is missing or not the file its manifest describes` };
  for (const [input, built] of Object.entries(bundle.inputs)) {
    if (await inputChanged(root, input, built)) return { fresh: false, why: `${input} changed after the bundle of ${entry} was built` };
  }
  return { fresh: true, file };
}

const productRoot = path.resolve(import.meta.dirname, '../..');
const explained = new Set<string>();

/**
 * The script the node agent runs for a container entry: its fresh bundle, else the entry itself
 * (the source, slower to start), with a warning once per reason. Entries that are not bundled
 * (the VM launcher) run as they are.
 */
export async function runnableEntry(entry: string, logger: Logger, root = productRoot): Promise<string> {
  const relative = path.relative(root, entry);
  if (!bundledEntries.includes(relative)) return entry;
  const check = await checkWorkerBundle(root, relative);
  if (check.fresh) return check.file;
  const key = `${root}\0${check.why}`;
  if (!explained.has(key)) {
    explained.add(key);
    logger.warn({ entry: relative, why: check.why }, 'running the worker from source (slower start); `npm run build:workers` rebuilds the bundles');
  }
  return entry;
}
