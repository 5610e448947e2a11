import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { startServe, type Serve } from '../support/serve.ts';

const image = Buffer.alloc(4 << 20);
for (let i = 0; i < image.length; i += 512) image.writeUInt32LE(i, i);
let dataDir: string;
let server: http.Server;
let url: string;
let serve: Serve | undefined;
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
  await serve?.stop();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await fs.promises.rm(dataDir, { recursive: true, force: true });
});

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

it('survives kill -9 of cdi serve mid-import: the worker dies with it, the next serve finishes the import', async () => {
  serve = await startServe({ dataDir });
  await serve.custom.createNamespacedCustomObject({
    ...dv,
    body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'restart-dv' }, spec: { source: { http: { url } }, storage: { resources: { requests: { storage: '16Mi' } } } } },
  });
  const pid = await eventually(() => importerPid(), 'importer running', 150_000);
  await serve.kill9();
  await eventually(() => !alive(pid), 'importer gone with its parent (pdeathsig)', 30_000);

  slow = false;
  await serve.restart();
  const second = serve;
  const done = await eventually(async () => {
    const obj = (await second.custom.getNamespacedCustomObject({ ...dv, name: 'restart-dv' })) as { status?: { phase?: string } };
    return obj.status?.phase === 'Succeeded' ? obj : undefined;
  }, 'DataVolume Succeeded after restart', 150_000).catch(async (err: Error) => {
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
