import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { errorTable, type ErrorCode } from './errors.ts';

const root = path.resolve(import.meta.dirname, '../..');
const codes = Object.keys(errorTable) as ErrorCode[];

interface DocRow {
  exit: number;
  http: number;
  message: string;
}

/** The rows of docs/errors.md's table: | `CODE` | exit | http | `template` | meaning | upstream | */
async function documented(): Promise<Map<string, DocRow>> {
  const text = await readFile(path.join(root, 'docs/errors.md'), 'utf8');
  const rows = new Map<string, DocRow>();
  for (const line of text.split('\n')) {
    const match = /^\| `(CDI_ERR_[A-Z0-9_]+)` \| (\d+) \| (\d+) \| (``? ?)(.*?)( ?``?) \|/.exec(line);
    if (!match) continue;
    rows.set(match[1]!, { exit: Number(match[2]), http: Number(match[3]), message: match[5]!.replaceAll('\\|', '|') });
  }
  return rows;
}

/** Product sources (tests excluded) of every tree that ships. */
async function productSources(): Promise<string> {
  const texts: string[] = [];
  for (const tree of ['src', 'importer', 'uploadserver', 'uploadproxy']) {
    const entries = await readdir(path.join(root, tree), { recursive: true, withFileTypes: true });
    for (const entry of entries) {
      if (!entry.isFile() || !entry.name.endsWith('.ts') || entry.name.endsWith('.test.ts')) continue;
      const file = path.join(entry.parentPath, entry.name);
      if (file === path.join(root, 'src/api/errors.ts')) continue;
      texts.push(await readFile(file, 'utf8'));
    }
  }
  return texts.join('\n');
}

describe('docs/errors.md documents the error table', () => {
  it('lists every code with its exit code, HTTP status and template', async () => {
    const rows = await documented();
    const undocumented = codes.filter((code) => !rows.has(code));
    expect(undocumented, 'codes missing from docs/errors.md').toEqual([]);
    for (const code of codes) {
      const { message, exit, http } = errorTable[code];
      expect(rows.get(code), code).toEqual({ exit, http, message });
    }
  });

  it('lists no code the table no longer has', async () => {
    const gone = [...(await documented()).keys()].filter((code) => !(code in errorTable));
    expect(gone, 'codes in docs/errors.md but not in src/api/errors.ts').toEqual([]);
  });
});

describe('the error table', () => {
  it('has no code that nothing throws', async () => {
    const sources = await productSources();
    const unused = codes.filter((code) => !sources.includes(`'${code}'`));
    expect(unused, 'codes no product source refers to').toEqual([]);
  });

  it('has no catch-all template but the command line parser\'s', () => {
    const bare = codes.filter((code) => errorTable[code].message.trim() === '%s');
    expect(bare).toEqual(['CDI_ERR_USAGE']);
  });
});
