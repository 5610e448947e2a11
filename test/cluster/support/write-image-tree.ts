// `node test/cluster/support/write-image-tree.ts <out-dir>`: the images' /app tree, built from
// docker/Dockerfile by the same code as the image-tree test (used by docker/verify-rootfs.sh).
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDockerfile } from './dockerfile.ts';
import { buildTree } from './image-tree.ts';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: write-image-tree.ts <out-dir>\n');
  process.exit(64);
}
const repo = join(import.meta.dirname, '..', '..', '..');
const work = mkdtempSync(join(tmpdir(), 'cdi-image-tree-'));
try {
  const build = buildTree(parseDockerfile(readFileSync(join(repo, 'docker', 'Dockerfile'), 'utf8')), 'runtime', {
    context: repo,
    ignoreText: readFileSync(join(repo, 'docker', 'Dockerfile.dockerignore'), 'utf8'),
    workDir: work,
    cacheDir: join(repo, '.cache', 'image-tree'),
  });
  cpSync(join(build.roots.get('runtime')!, 'app'), out, { recursive: true, dereference: false });
  for (const [stage, runs] of build.skippedRuns) for (const run of runs) process.stdout.write(`${stage}\t${run}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
