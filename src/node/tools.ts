import fs from 'node:fs';
import path from 'node:path';

const found = new Map<string, Promise<string | undefined>>();

/** Absolute path of a util-linux helper on PATH (prlimit, setpriv), looked up once. */
export function findTool(name: string): Promise<string | undefined> {
  let p = found.get(name);
  if (!p) {
    p = (async () => {
      for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/bin'])) {
        if (!dir) continue;
        const candidate = path.join(dir, name);
        const ok = await fs.promises.access(candidate, fs.constants.X_OK).then(
          () => true,
          () => false,
        );
        if (ok) return candidate;
      }
      return undefined;
    })();
    found.set(name, p);
  }
  return p;
}
