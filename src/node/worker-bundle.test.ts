import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Logger } from '../api/logger.ts';
import { describeInput, runnableEntry, workerBundleDir, workerBundleManifestPath, type WorkerBundleManifest } from './worker-bundle.ts';

/** A project root with one built importer bundle, as scripts/build-workers.ts leaves it. */
let root: string;
let warnings: { obj: Record<string, unknown>; msg: string | undefined }[];
const logger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }),
  error: () => {},
  child: () => logger,
};
const entry = (rel: string): string => path.join(root, rel);
const bundleFile = (): string => path.join(workerBundleDir(root), 'importer.mjs');

async function writeBundle(): Promise<void> {
  await mkdir(workerBundleDir(root), { recursive: true });
  await writeFile(bundleFile(), 'export {};\n');
  const manifest: WorkerBundleManifest = {
    version: 1,
    bundles: {
      'importer/main.ts': {
        file: 'importer.mjs',
        size: 11,
        inputs: {
          'importer/main.ts': await describeInput(root, 'importer/main.ts'),
          'src/lib.ts': await describeInput(root, 'src/lib.ts'),
        },
      },
    },
  };
  await writeFile(workerBundleManifestPath(root), JSON.stringify(manifest));
}

beforeEach(async () => {
  // A root of its own per test: runnableEntry warns once per reason, and reasons name paths in it.
  root = await mkdtemp(path.join(os.tmpdir(), 'cdi-bundle-'));
  warnings = [];
  await mkdir(path.join(root, 'importer'));
  await mkdir(path.join(root, 'src'));
  await writeFile(entry('importer/main.ts'), "import './src/lib.ts';\n");
  await writeFile(entry('src/lib.ts'), 'export const a = 1;\n');
  await writeBundle();
});
afterEach(() => rm(root, { recursive: true, force: true }));

describe('the node agent runs a worker bundle only while it matches its sources', () => {
  it('runs the bundle when every input is unchanged, without a word', async () => {
    expect(await runnableEntry(entry('importer/main.ts'), logger, root)).toBe(bundleFile());
    expect(warnings).toEqual([]);
  });

  it('still runs it when an input was only touched (a checkout resets mtimes): the content decides', async () => {
    const later = new Date(Date.now() + 60_000);
    await utimes(entry('src/lib.ts'), later, later);
    expect(await runnableEntry(entry('importer/main.ts'), logger, root)).toBe(bundleFile());
  });

  it('runs the source, and says which file changed, when an input was edited (same size too)', async () => {
    await writeFile(entry('src/lib.ts'), 'export const b = 1;\n');
    expect(await runnableEntry(entry('importer/main.ts'), logger, root)).toBe(entry('importer/main.ts'));
    expect(warnings).toEqual([{ obj: { entry: 'importer/main.ts', why: 'src/lib.ts changed after the bundle of importer/main.ts was built' }, msg: expect.stringContaining('npm run build:workers') }]);
  });

  it('runs the source when an input is gone', async () => {
    await rm(entry('src/lib.ts'));
    expect(await runnableEntry(entry('importer/main.ts'), logger, root)).toBe(entry('importer/main.ts'));
    expect(warnings[0]?.obj.why).toBe('src/lib.ts changed after the bundle of importer/main.ts was built');
  });

  it('runs the source when the bundle file is not the one the manifest describes', async () => {
    await writeFile(bundleFile(), 'export const other = 1;\n');
    expect(await runnableEntry(entry('importer/main.ts'), logger, root)).toBe(entry('importer/main.ts'));
    expect(warnings[0]?.obj.why).toBe('dist/workers/importer.mjs is missing or not the file its manifest describes');
  });

  it('runs the source when nothing was built, or the manifest is unreadable, or has no bundle of the worker', async () => {
    expect(await runnableEntry(entry('uploadserver/main.ts'), logger, root)).toBe(entry('uploadserver/main.ts'));
    await writeFile(workerBundleManifestPath(root), '{"version": 1, "bund');
    expect(await runnableEntry(entry('importer/main.ts'), logger, root)).toBe(entry('importer/main.ts'));
    await rm(workerBundleDir(root), { recursive: true });
    expect(await runnableEntry(entry('importer/main.ts'), logger, root)).toBe(entry('importer/main.ts'));
    expect(warnings.map((w) => w.obj.why)).toEqual([
      'dist/workers has no bundle of uploadserver/main.ts',
      'the worker bundles are not built (no readable dist/workers/manifest.json)',
    ]);
  });

  it('runs what is not a worker (the VM launcher) as it is', async () => {
    await rm(workerBundleDir(root), { recursive: true });
    expect(await runnableEntry(entry('virtlauncher/main.ts'), logger, root)).toBe(entry('virtlauncher/main.ts'));
    expect(warnings).toEqual([]);
  });
});
