/**
 * What each `cdi` command loads (docs/adr/0026): `--help` and `convert` must not load the
 * Kubernetes client, the HTTP client or the control plane, or their start-up cost comes back.
 * Timing itself lives in the benchmarks; this guards the cause.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuImg } from '../support/qemu.ts';
import { tempDir } from '../format/helpers.ts';

const root = path.resolve(import.meta.dirname, '../..');
const cdi = path.join(root, 'bin/cdi');
const recorder = path.join(root, 'test/support/module-recorder.ts');

/** Loaded only by the commands that talk to a cluster or run one. */
const heavy = ['/node_modules/@kubernetes/client-node/', '/node_modules/undici/', '/src/apiserver/', '/src/controller/', '/src/node/', '/src/cli/serve/run.ts'];

let dir: string;
let cleanup: () => Promise<void>;
let image: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  const raw = path.join(dir, 'one-mib.raw');
  await writeFile(raw, Buffer.alloc(2 ** 20, 0x5a));
  image = path.join(dir, 'one-mib.qcow2');
  await qemuImg('convert', '-f', 'raw', '-O', 'qcow2', raw, image);
});
afterAll(() => cleanup());

async function loadedBy(args: string[]): Promise<{ code: number | null; modules: string[] }> {
  const list = path.join(dir, `modules-${args.join('-').replace(/[^a-z-]/g, '')}.txt`);
  const env = { ...process.env, CDI_TEST_MODULE_LIST: list, NODE_OPTIONS: `--import=${recorder}` };
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(cdi, args, { env, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', resolve);
  });
  return { code, modules: (await readFile(list, 'utf8')).split('\n').filter(Boolean) };
}

const heavyIn = (modules: string[]): string[] => modules.filter((url) => heavy.some((h) => url.includes(h)));

describe('cdi start-up loads only what the command needs', () => {
  it.each([[['--help']], [['convert', '--help']], [['serve', '--help']], [['image-upload', '--help']], [['import', '--help']]])(
    'cdi %j loads no client, server or engine module',
    async (args) => {
      const { code, modules } = await loadedBy(args);
      expect(code).toBe(0);
      expect(modules.some((url) => url.endsWith('/src/cli/main.ts'))).toBe(true);
      expect(heavyIn(modules)).toEqual([]);
      expect(modules.filter((url) => url.includes('/src/format/'))).toEqual([]);
    },
  );

  it('cdi convert of a 1 MiB qcow2 loads the engine but no client or server module', async () => {
    const { code, modules } = await loadedBy(['convert', '--no-progress', image, path.join(dir, 'out.raw')]);
    expect(code).toBe(0);
    expect(modules.some((url) => url.endsWith('/src/format/index.ts'))).toBe(true);
    expect(heavyIn(modules)).toEqual([]);
  });

  it('cdi convert off a terminal does not load the progress bar', async () => {
    // stderr is not a TTY here, so even without --no-progress no bar is drawn
    const { code, modules } = await loadedBy(['convert', image, path.join(dir, 'out-bar.raw')]);
    expect(code).toBe(0);
    expect(modules.some((url) => url.endsWith('/src/cli/commands/convert-run.ts'))).toBe(true);
    expect(modules.filter((url) => url.includes('/node_modules/cli-progress/'))).toEqual([]);
  });

  it('the recorder sees the Kubernetes client where a command needs it (image-upload)', async () => {
    const { code, modules } = await loadedBy(['image-upload', 'dv', 'x', '--image-path', image]);
    expect(code).not.toBe(0);
    expect(modules.some((url) => url.includes('/node_modules/@kubernetes/client-node/'))).toBe(true);
  });
});
