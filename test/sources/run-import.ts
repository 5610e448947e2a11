import { mkdtemp, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/api/logger.ts';
import type { ImportConfig } from '../../src/importer/config.ts';
import { ImportStatus } from '../../src/importer/status.ts';
import { ImportFailure, runImport, type ImportOutcome } from '../../src/importer/worker.ts';

/** A fresh directory with the target path `disk.img` inside. */
export async function targetDir(): Promise<{ dir: string; target: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-import-test-'));
  return { dir, target: path.join(dir, 'disk.img') };
}

export function importConfig(over: Partial<ImportConfig> & Pick<ImportConfig, 'source' | 'endpoint' | 'target'>): ImportConfig {
  return {
    contentType: 'kubevirt',
    insecureTls: false,
    extraHeaders: [],
    preallocation: false,
    filesystemOverhead: 0,
    ownerUid: 'test-uid',
    ...over,
  };
}

export interface ImportRun {
  outcome?: ImportOutcome;
  failure?: ImportFailure;
  status: ImportStatus;
  /** Files left in the target's directory afterwards. */
  files: string[];
}

/** Runs the worker's import in this process and records how it ended. */
export async function importInProcess(config: ImportConfig): Promise<ImportRun> {
  const status = new ImportStatus(config.contentType);
  const run: ImportRun = { status, files: [] };
  try {
    run.outcome = await runImport(config, status, { logger: silentLogger });
  } catch (err) {
    if (!(err instanceof ImportFailure)) throw err;
    run.failure = err;
  }
  const dir = config.target.kind === 'directory' ? config.target.path : path.dirname(config.target.path);
  run.files = await readdir(dir).catch(() => []);
  return run;
}
