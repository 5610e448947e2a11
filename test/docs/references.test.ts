/**
 * Every document the repository cites is in the repository: `docs/…` paths, ADR numbers and
 * relative links in docs/, in code comments as in the docs; nothing points at notes that live
 * outside it; the ADR index lists every ADR.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const trees = ['src', 'test', 'bench', 'docs', 'docker', 'scripts', 'bin', 'importer', 'uploadserver', 'uploadproxy', 'crds'];
const rootFiles = ['README.md', 'eslint.config.js', 'package.json', 'vitest.config.ts'];
const textFile = /\.(ts|js|mjs|md|sh|ya?ml|json)$|Dockerfile$|^cdi$/;
const self = path.relative(root, import.meta.filename);

async function corpus(): Promise<Array<{ file: string; text: string }>> {
  const files = [...rootFiles];
  for (const tree of trees) {
    if (!existsSync(path.join(root, tree))) continue;
    for (const entry of await readdir(path.join(root, tree), { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && textFile.test(entry.name)) files.push(path.relative(root, path.join(entry.parentPath, entry.name)));
    }
  }
  return Promise.all(files.filter((file) => file !== self).map(async (file) => ({ file, text: await readFile(path.join(root, file), 'utf8') })));
}

const adrs = (await readdir(path.join(root, 'docs/adr'))).filter((name) => /^\d{4}-.*\.md$/.test(name));
const adrExists = (number: string): boolean => adrs.some((name) => name.startsWith(`${number.padStart(4, '0')}-`));

describe('cited documents', () => {
  it('every docs/… path and ADR number cited exists', async () => {
    const broken: string[] = [];
    for (const { file, text } of await corpus()) {
      for (const [cited] of text.matchAll(/docs\/[\w./-]*\w\.md/g)) {
        if (!existsSync(path.join(root, cited))) broken.push(`${file}: ${cited}`);
      }
      for (const [, number] of text.matchAll(/docs\/adr\/(\d{4})/g)) {
        if (!adrExists(number!)) broken.push(`${file}: docs/adr/${number}`);
      }
      for (const [, list] of text.matchAll(/\bADRs? ((?:\d{4}(?:,? (?:and )?|\/))*\d{4})/g)) {
        for (const number of list!.match(/\d{4}/g)!) if (!adrExists(number)) broken.push(`${file}: ADR ${number}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('relative links in docs/ resolve', async () => {
    const broken: string[] = [];
    for (const { file, text } of (await corpus()).filter(({ file }) => file.endsWith('.md'))) {
      for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        if (!existsSync(path.resolve(root, path.dirname(file), target!))) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('nothing cites notes kept outside the repository', async () => {
    const outside = /ARCHITECTURE\.md|formats-protocols|machine-facts|cdi-upstream\.md|anchors-style|\/work\/shared/;
    const hits = (await corpus()).filter(({ text }) => outside.test(text)).map(({ file }) => file);
    expect(hits).toEqual([]);
  });

  it('the ADR index lists every ADR', async () => {
    const index = await readFile(path.join(root, 'docs/adr/README.md'), 'utf8');
    const listed = [...index.matchAll(/\]\((\d{4}-[^)]+\.md)\)/g)].map((m) => m[1]);
    expect(listed).toEqual(adrs.sort());
  });
});
