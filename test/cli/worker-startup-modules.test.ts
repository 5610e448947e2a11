/**
 * What each worker main loads before it is ready (issue 17's worker floor, docs/adr/0026, 0032):
 * no prom-client (the workers print their few metrics themselves), the HTTP client (undici) only
 * for remote sources and then only the parts the source uses, the format engine only once the
 * source answered or with the first upload, and never Node's bundled fetch (what an ES import of
 * node:http costs). Timing lives in bench/worker-ready.ts; this guards the cause.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../format/helpers.ts';
import { freePort, waitForPort } from '../support/ports.ts';

const root = path.resolve(import.meta.dirname, '../..');
const recorder = path.join(root, 'test/support/module-recorder.ts');

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => ({ dir, cleanup } = await tempDir()));
afterAll(() => cleanup());

const under = (modules: string[], part: string): string[] => modules.filter((url) => url.includes(part));

/** Node's own fetch (undici inside Node): an ES import of node:http loads it for its WebSocket getters. */
const nodeFetch = 'builtin:internal/deps/undici/undici';

/** Runs a worker main under the module recorder; `whileRunning` may stop it (else it must exit by itself). */
async function loadedBy(
  name: string,
  entry: string,
  env: Record<string, string>,
  whileRunning?: (stop: () => void) => Promise<void>,
): Promise<{ code: number | null; modules: string[] }> {
  const list = path.join(dir, `${name}.modules`);
  const child = spawn(process.execPath, [path.join(root, entry)], {
    env: {
      PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', CDI_TEST_MODULE_LIST: list, NODE_OPTIONS: `--import=${recorder}`,
      CDI_TERMINATION_LOG: path.join(dir, `${name}.termination`), ...env,
    },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', resolve);
  });
  await whileRunning?.(() => child.kill('SIGTERM'));
  const code = await exited;
  return { code, modules: (await readFile(list, 'utf8')).split('\n').filter(Boolean) };
}

describe('worker start-up loads only what the worker needs', () => {
  it('the importer making a blank disk loads neither prom-client nor the HTTP client', async () => {
    const target = path.join(dir, 'blank.img');
    const { code, modules } = await loadedBy('blank', 'importer/main.ts', {
      IMPORTER_SOURCE: 'none', IMPORTER_IMAGE_SIZE: '1Mi', PREALLOCATION: 'false', CDI_TARGET_PATH: target, CDI_LISTEN_PORT: '0',
    });
    expect(code).toBe(0);
    expect(modules.some((url) => url.endsWith('/src/importer/worker.ts'))).toBe(true);
    expect(under(modules, '/node_modules/prom-client/')).toEqual([]);
    expect(under(modules, '/node_modules/undici/')).toEqual([]);
  });

  it('the importer refusing its env loads neither the engine nor any source', async () => {
    const { code, modules } = await loadedBy('bad-env', 'importer/main.ts', { IMPORTER_SOURCE: 'http', PREALLOCATION: 'yes', CDI_LISTEN_PORT: '0' });
    expect(code).toBe(1);
    expect(await readFile(path.join(dir, 'bad-env.termination'), 'utf8')).toBe('the PREALLOCATION environment variable is with a wrong value "yes"; should be "true" or "false"');
    expect(modules.some((url) => url.endsWith('/src/worker/main.ts'))).toBe(true);
    expect(under(modules, '/src/format/')).toEqual([]);
    expect(under(modules, '/src/sources/')).toEqual([]);
    expect(under(modules, '/node_modules/undici/')).toEqual([]);
  });

  it('the importer asking its HTTP source loads undici\'s agent, not undici\'s index, Node\'s fetch or the engine', async () => {
    let asked = 0;
    const server = http.createServer((_req, res) => {
      asked++;
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const { code, modules } = await loadedBy('http-404', 'importer/main.ts', {
        IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `http://127.0.0.1:${port}/disk.img`, CDI_TARGET_PATH: path.join(dir, 'http.img'), CDI_LISTEN_PORT: '0',
      });
      expect(code).toBe(1);
      expect(asked).toBeGreaterThan(0);
      expect(await readFile(path.join(dir, 'http-404.termination'), 'utf8')).toMatch(/^Unable to connect to http data source: .*404/);
      expect(under(modules, '/node_modules/undici/lib/dispatcher/agent.js').length).toBe(1);
      expect(under(modules, '/node_modules/undici/index.js')).toEqual([]);
      expect(modules).not.toContain(nodeFetch);
      // A source that never answered never needed the engine.
      expect(under(modules, '/src/format/index.ts')).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('the upload server listens without the format engine, prom-client or the HTTP client', async () => {
    const port = await freePort();
    const { modules } = await loadedBy('upload', 'uploadserver/main.ts', {
      CDI_TARGET_PATH: path.join(dir, 'upload.img'), CDI_LISTEN_PORT: String(port), CDI_SCRATCH_DIR: dir,
    }, async (stop) => {
      await waitForPort(port, 60_000);
      stop();
    });
    expect(under(modules, '/node_modules/fastify/').length).toBeGreaterThan(0);
    expect(modules).toContain('builtin:http');
    expect(modules).not.toContain(nodeFetch);
    expect(under(modules, '/src/format/pipeline.ts')).toEqual([]);
    expect(under(modules, '/node_modules/prom-client/')).toEqual([]);
    expect(under(modules, '/node_modules/undici/')).toEqual([]);
  });

  it('the cloner loads neither prom-client, the HTTP client nor the format engine', async () => {
    const source = path.join(dir, 'clone-source.img');
    await writeFile(source, Buffer.alloc(4096, 1));
    const { code, modules } = await loadedBy('cloner', 'importer/cloner.ts', {
      // Keys Node cannot use: the POST fails after the source was sized, with a coded error.
      SOURCE_PATH: source, UPLOAD_URL: `https://127.0.0.1:${await freePort()}/v1beta1/upload`,
      CLIENT_KEY: 'unused', CLIENT_CERT: 'unused', SERVER_CA_CERT: 'unused', CDI_LISTEN_PORT: '0',
    });
    expect(code).toBe(1);
    expect(await readFile(path.join(dir, 'cloner.termination'), 'utf8')).toMatch(/^Error .+ POSTing to https:\/\/127\.0\.0\.1:\d+\/v1beta1\/upload$/);
    expect(modules.some((url) => url.endsWith('/src/cloner/clone.ts'))).toBe(true);
    expect(under(modules, '/node_modules/prom-client/')).toEqual([]);
    expect(under(modules, '/node_modules/undici/')).toEqual([]);
    expect(under(modules, '/src/format/').map((url) => path.basename(url))).toEqual(['device-size.ts', 'target-io.ts']);
  });
});
