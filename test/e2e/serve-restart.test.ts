import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const image = Buffer.alloc(4 << 20);
for (let i = 0; i < image.length; i += 512) image.writeUInt32LE(i, i);
let dataDir: string;
let server: http.Server;
let url: string;
let serve: ChildProcess | undefined;
let slow = true;

/** Serves the image in 64 KiB steps every 50 ms while `slow`, so an import is caught mid-way. */
beforeAll(async () => {
  dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cdi-serve-restart-'));
  server = http.createServer(async (req, res) => {
    res.setHeader('content-length', image.length);
    if (req.method === 'HEAD') return res.end();
    for (let off = 0; off < image.length && !res.destroyed; off += 64 << 10) {
      res.write(image.subarray(off, off + (64 << 10)));
      if (slow) await new Promise((r) => setTimeout(r, 50));
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.raw`;
});

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve!.once('exit', r));
  }
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await fs.promises.rm(dataDir, { recursive: true, force: true });
});

async function startServe(): Promise<{ custom: CustomObjectsApi; core: CoreV1Api }> {
  const child = spawn(path.join(root, 'bin/cdi'), ['serve', '--data-dir', dataDir, '--port', '0', '--upload-proxy-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  serve = child;
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  while (!err.includes('cdi serve is ready')) {
    if (child.exitCode !== null) throw new Error(`cdi serve exited:\n${err}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const kc = new KubeConfig();
  kc.loadFromFile(path.join(dataDir, 'kubeconfig'));
  return { custom: kc.makeApiClient(CustomObjectsApi), core: kc.makeApiClient(CoreV1Api) };
}

const dv = { group: 'cdi.kubevirt.io', version: 'v1beta1', namespace: 'default', plural: 'datavolumes' };

function importerPid(): number | undefined {
  const file = path.join(dataDir, 'pods/default/importer-restart-dv/importer.pid');
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }).pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until<T>(fn: () => Promise<T | undefined> | T | undefined, what: string, ms = 150_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await Promise.resolve(fn()).catch(() => undefined);
    if (v) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out: ${what}`);
}

it('survives kill -9 of cdi serve mid-import: the worker dies with it, the next serve finishes the import', async () => {
  const first = await startServe();
  await first.custom.createNamespacedCustomObject({
    ...dv,
    body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'restart-dv' }, spec: { source: { http: { url } }, storage: { resources: { requests: { storage: '16Mi' } } } } },
  });
  const pid = await until(() => importerPid(), 'importer running');
  serve!.kill('SIGKILL');
  await new Promise((r) => serve!.once('exit', r));
  await until(() => !alive(pid) || undefined, 'importer gone with its parent (pdeathsig)', 30_000);

  slow = false;
  const second = await startServe();
  const done = await until(async () => {
    const obj = (await second.custom.getNamespacedCustomObject({ ...dv, name: 'restart-dv' })) as { status?: { phase?: string } };
    return obj.status?.phase === 'Succeeded' ? obj : undefined;
  }, 'DataVolume Succeeded after restart').catch(async (err: Error) => {
    const obj = await second.custom.getNamespacedCustomObject({ ...dv, name: 'restart-dv' }).catch(() => undefined);
    const pods = await second.core.listNamespacedPod({ namespace: 'default' }).catch(() => undefined);
    throw new Error(`${err.message}\nDataVolume: ${JSON.stringify(obj)}\npods: ${JSON.stringify(pods?.items.map((p) => [p.metadata?.name, p.status]))}`);
  });
  expect(done.status?.phase).toBe('Succeeded');
  const pvc = await second.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'restart-dv' });
  const disk = fs.readFileSync(path.join(pvc.metadata?.annotations?.['local.cdi.kubevirt.io/path'] ?? '', 'disk.img'));
  const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  expect(digest(disk.subarray(0, image.length))).toBe(digest(image));
}, 400_000);
