import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CdiError } from '../../api/errors.ts';

/** `$XDG_DATA_HOME/cdi`, which is `~/.local/share/cdi` unless XDG_DATA_HOME says otherwise. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'cdi');
}

/**
 * One `cdi serve` per data dir: a second one would run every pod twice. The pid file names the
 * owner; a stale file (its process gone) is taken over.
 */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  // Volumes, secrets materialised for pods and the CA key live here: owner only.
  await fs.promises.mkdir(dataDir, { recursive: true, mode: 0o700 });
  await fs.promises.chmod(dataDir, 0o700);
  const file = path.join(dataDir, 'serve.pid');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.promises.writeFile(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      return async () => {
        await fs.promises.rm(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number((await fs.promises.readFile(file, 'utf8').catch(() => '')).trim());
      if (owner && owner !== process.pid && alive(owner)) throw new CdiError('CDI_ERR_SERVE', [`another cdi serve (pid ${owner}) is using ${dataDir}`]);
      await fs.promises.rm(file, { force: true });
    }
  }
  throw new CdiError('CDI_ERR_SERVE', [`cannot lock ${dataDir}`]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
