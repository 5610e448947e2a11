// Writes crds/*.yaml from the schemas in src/api (`npm run gen:crds`); the drift test compares them.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { renderCrdFiles } from '../src/api/crd-yaml.ts';

const dir = path.resolve(import.meta.dirname, '../crds');
for (const { file, text } of renderCrdFiles()) {
  await writeFile(path.join(dir, file), text);
  console.log(`wrote crds/${file}`);
}
