/**
 * `node scripts/build-workers.ts [--if-stale]`: bundles each worker main (importer, upload
 * server, cloner) with everything it imports into dist/workers/<name>.mjs and writes the
 * manifest the node agent checks before it runs one (src/node/worker-bundle.ts, docs/adr/0032).
 * scripts/install-deps.sh runs it with --if-stale, so `scripts/start` and `scripts/test` build
 * what is missing or out of date.
 */
import { chmod, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { WorkerImages } from '../src/api/images.ts';
import {
  bundledEntries, checkWorkerBundle, describeInput, workerBundleDir, type WorkerBundleManifest,
} from '../src/node/worker-bundle.ts';

const root = path.resolve(import.meta.dirname, '..');

async function allFresh(): Promise<boolean> {
  for (const entry of bundledEntries) if (!(await checkWorkerBundle(root, entry)).fresh) return false;
  return true;
}

async function buildAll(): Promise<WorkerBundleManifest> {
  const dir = workerBundleDir(root);
  // Built beside the old bundles, then swapped in: an agent never sees half of a build.
  const next = `${dir}.next-${process.pid}`;
  await rm(next, { recursive: true, force: true });
  await mkdir(next, { recursive: true });
  const { build } = await import('rolldown');
  const manifest: WorkerBundleManifest = { version: 1, bundles: {} };
  for (const [kind, image] of Object.entries(WorkerImages)) {
    const file = `${kind}.mjs`;
    const { output } = await build({
      input: path.join(root, image.entry),
      platform: 'node',
      logLevel: 'warn',
      // Minified (half the bytes to read, hash and compile: the upload server starts ~40 ms sooner),
      // with function and class names kept (pino logs an error's constructor name) and a source map.
      output: { file: path.join(next, file), format: 'esm', codeSplitting: false, minify: true, keepNames: true, sourcemap: true },
    });
    // This script is an input too: a change to how bundles are built rebuilds them.
    const inputs: WorkerBundleManifest['bundles'][string]['inputs'] = { 'scripts/build-workers.ts': await describeInput(root, 'scripts/build-workers.ts') };
    for (const id of output[0].moduleIds) {
      // rolldown's runtime helpers are virtual modules (\0-prefixed), not files
      if (!path.isAbsolute(id)) continue;
      const relative = path.relative(root, id);
      inputs[relative] = await describeInput(root, relative);
    }
    manifest.bundles[image.entry] = { file, size: (await stat(path.join(next, file))).size, inputs };
  }
  await writeFile(path.join(next, 'manifest.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  // Workers run as their pod's user (ADR 0023): whatever the umask, every user may read the bundles.
  await chmod(path.dirname(dir), 0o755);
  await chmod(next, 0o755);
  for (const name of await readdir(next)) await chmod(path.join(next, name), 0o644);
  await rm(dir, { recursive: true, force: true });
  await rename(next, dir);
  return manifest;
}

if (process.argv.includes('--if-stale') && (await allFresh())) process.exit(0);
const manifest = await buildAll();
for (const [entry, bundle] of Object.entries(manifest.bundles)) {
  console.error(`cdi: built ${path.relative(root, path.join(workerBundleDir(root), bundle.file))} from ${entry} (${Object.keys(bundle.inputs).length} files, ${(bundle.size / 1024).toFixed(0)} KiB)`);
}
