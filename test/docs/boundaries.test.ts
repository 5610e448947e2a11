/**
 * The folder dependency rules: eslint.config.js enforces the table docs/architecture.md shows, and
 * the rules catch what they claim to (probe sources linted in place, never written to disk).
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
type Layers = Record<string, { allow: string[]; testAllow?: string[] }>;
const { layers } = (await import(pathToFileURL(path.join(root, 'eslint.config.js')).href)) as { layers: Layers };
const eslint = new ESLint({ cwd: root });

async function restricted(file: string, specifier: string): Promise<boolean> {
  const [result] = await eslint.lintText(`import '${specifier}';\n`, { filePath: path.join(root, file) });
  return result!.messages.some((m) => m.ruleId === 'no-restricted-imports');
}

describe('folder boundaries', () => {
  it('docs/architecture.md shows the layers eslint.config.js enforces', async () => {
    const doc = await readFile(path.join(root, 'docs/architecture.md'), 'utf8');
    const rows = new Map<string, string[]>();
    const section = doc.slice(doc.indexOf('## Dependency rules'));
    for (const line of section.split('\n')) {
      // | `src/format/` | `api` | why |   or   | `src/log.ts` | `log-destination` | why |
      const match = /^\| `src\/([^`]+?)(?:\/|\.ts)` \| ([^|]*) \|/.exec(line);
      if (!match) continue;
      const allowed = match[2]!.startsWith('everything') ? ['*'] : [...match[2]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      rows.set(match[1]!, allowed);
    }
    expect([...rows.keys()].sort()).toEqual(Object.keys(layers).sort());
    for (const [layer, { allow }] of Object.entries(layers)) expect(rows.get(layer), layer).toEqual(allow);
  });

  it('has a layer for every folder and root file of src/', async () => {
    const entries = await readdir(path.join(root, 'src'), { withFileTypes: true });
    const names = entries.filter((e) => e.isDirectory() || !e.name.endsWith('.test.ts')).map((e) => e.name.replace(/\.ts$/, ''));
    expect(names.filter((name) => !(name in layers))).toEqual([]);
  });

  it.each([
    ['src/format/probe.ts', '../node/layout.ts', true],
    ['src/format/probe.ts', 'pino', true],
    ['src/format/qcow2/probe.ts', '../../sources/index.ts', true],
    ['src/format/qcow2/probe.ts', '../../api/errors.ts', false],
    ['src/apiserver/probe.ts', '../node/layout.ts', false],
    ['src/apiserver/probe.ts', '../node/agent.ts', true],
    ['src/importer/probe.ts', '../cluster/pki/certificate.ts', false],
    ['src/importer/probe.ts', '../cluster/health.ts', true],
    ['src/importer/probe.ts', '../../importer/main.ts', true],
    ['src/cluster/pki/probe.ts', '../../controller/index.ts', true],
    ['src/cluster/token-api/probe.ts', '../../controller/index.ts', false],
    ['src/upload-proxy/probe.ts', '../upload-server/app.ts', true],
    ['src/worker/probe.ts', 'pino', true],
    ['src/worker/probe.ts', '../log.ts', false],
    ['src/cloner/probe.ts', '../worker/index.ts', false],
    ['src/cloner/probe.ts', '../node/layout.ts', true],
    ['src/probe.ts', '../uploadserver/main.ts', true],
    ['src/api/probe.ts', '../../test/support/qemu.ts', true],
    ['src/api/probe.test.ts', '../../test/support/qemu.ts', false],
    ['src/cli/serve/probe.ts', '../../node/index.ts', false],
    ['src/cli/serve/probe.ts', '../../../bench/x.ts', true],
    ['uploadserver/probe.ts', '../importer/main.ts', true],
    ['uploadserver/probe.ts', '../src/upload-server/app.ts', false],
  ])('%s importing %s: restricted %s', async (file, specifier, expected) => {
    expect(await restricted(file, specifier)).toBe(expected);
  });
});
