/**
 * `npm run gen:crds`: writes the CRDs generated from the schemas in src/api to crds/ and to the
 * deploy manifests' copy in docker/deploy/crds/ (kustomize reads only files below its own
 * folder), removing YAML files there that are no longer generated. `--out DIR` writes the same
 * tree below DIR instead of the repository; the drift test regenerates into a temporary DIR and
 * compares.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderCrdFiles } from '../src/api/crd-yaml.ts';

const crdDirs = ['crds', path.join('docker', 'deploy', 'crds')];

const args = process.argv.slice(2);
const root = args[0] === '--out' && args[1] ? path.resolve(args[1]) : path.resolve(import.meta.dirname, '..');
const files = renderCrdFiles();
for (const dir of crdDirs) {
  const target = path.join(root, dir);
  await mkdir(target, { recursive: true });
  for (const stale of (await readdir(target)).filter((f) => f.endsWith('.yaml') && !files.some((g) => g.file === f))) {
    await rm(path.join(target, stale));
    console.log(`removed ${path.join(dir, stale)}`);
  }
  for (const { file, text } of files) {
    await writeFile(path.join(target, file), text);
    console.log(`wrote ${path.join(dir, file)}`);
  }
}
