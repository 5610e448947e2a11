// npm run bench:controller — 200 blank DataVolumes and 20 HTTP imports of a 64 MiB qcow2 applied at
// once through `cdi serve`: time until all Succeeded, worker concurrency, peak RSS of cdi serve
// itself (its worker processes excluded). Floors: ≤ 120 s, ≤ 300 MiB.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { DataVolume } from '../src/api/datavolume.ts';
import { startNginx } from '../test/support/nginx.ts';
import { qemuImg, qemuIo } from '../test/support/qemu.ts';
import { dvRef } from '../test/e2e/support.ts';
import { startServe } from '../test/support/serve.ts';

const blanks = Number(process.env.BENCH_BLANKS ?? 200);
const imports = Number(process.env.BENCH_IMPORTS ?? 20);
const MiB = 1 << 20;

async function image(): Promise<string> {
  const dir = path.resolve(import.meta.dirname, '../.cache/bench');
  const file = path.join(dir, 'controller-64m.qcow2');
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await qemuImg('create', '-f', 'qcow2', tmp, '64M');
  // half the disk holds data, in runs a guest leaves behind
  for (let off = 0; off < 64; off += 4) await qemuIo(tmp, 'qcow2', `write -P ${0x11 + off} ${off}M 2M`);
  await rename(tmp, file);
  return file;
}

/** The process' own peak resident set (VmHWM), children excluded. */
async function peakRssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

const qcow2 = await image();
const nginx = await startNginx({ root: path.dirname(qcow2) });
const serve = await startServe();
try {
  const serveDir = serve.dataDir;
  const spec = (name: string, source: object, size: string) => ({
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name },
    spec: { source, storage: { resources: { requests: { storage: size } } } },
  });
  const bodies = [
    ...Array.from({ length: blanks }, (_, i) => spec(`blank-${i}`, { blank: {} }, '16Mi')),
    ...Array.from({ length: imports }, (_, i) => spec(`http-${i}`, { http: { url: `${nginx.plain}/${path.basename(qcow2)}` } }, '128Mi')),
  ];
  const started = Date.now();
  await Promise.all(bodies.map((body) => serve.custom.createNamespacedCustomObject({ ...dvRef, namespace: 'default', body })));
  const applied = Date.now() - started;

  let maxWorkers = 0;
  let done = 0;
  let failed: string[] = [];
  let pending: string[] = [];
  const milestones = new Map<number, number>();
  let timedOut = false;
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    const lists = await Promise.all([
      serve.custom.listNamespacedCustomObject({ ...dvRef, namespace: 'default' }) as Promise<{ items: DataVolume[] }>,
      serve.core.listNamespacedPod({ namespace: 'default' }),
    ]).catch((err: unknown) => {
      console.error(`poll failed (${String(err)}); retrying`);
      return undefined;
    });
    if (!lists) continue;
    const [dvs, pods] = lists;
    const running = pods.items.filter((p) => p.metadata?.name?.startsWith('importer-') && p.status?.phase === 'Running').length;
    maxWorkers = Math.max(maxWorkers, running);
    done = dvs.items.filter((d) => d.status?.phase === 'Succeeded').length;
    failed = dvs.items.filter((d) => d.status?.phase === 'Failed').map((d) => d.metadata?.name ?? '');
    pending = dvs.items.filter((d) => d.status?.phase !== 'Succeeded' && d.status?.phase !== 'Failed').map((d) => `${d.metadata?.name} (${d.status?.phase ?? 'no phase'})`);
    for (const pct of [25, 50, 75, 90, 100]) if (!milestones.has(pct) && done >= (bodies.length * pct) / 100) milestones.set(pct, (Date.now() - started) / 1000);
    if (done + failed.length === bodies.length) break;
    if (Date.now() - started > Number(process.env.BENCH_TIMEOUT_S ?? 300) * 1000) {
      timedOut = true;
      break;
    }
  }
  const seconds = (Date.now() - started) / 1000;
  const pid = Number((await readFile(path.join(serveDir, 'serve.pid'), 'utf8').catch(() => '0')).trim());
  const rss = pid ? await peakRssMiB(pid) : NaN;
  console.log(`DataVolumes: ${blanks} blank + ${imports} HTTP imports of a 64 MiB qcow2 (${(64 * MiB) / MiB} MiB virtual)`);
  console.log(`created in ${(applied / 1000).toFixed(1)} s; Succeeded: ${[...milestones].map(([p, t]) => `${p}% at ${t.toFixed(1)} s`).join(', ')}`);
  console.log(
    timedOut
      ? `NOT all Succeeded: ${done}/${bodies.length} after ${seconds.toFixed(1)} s`
      : `all ${done} Succeeded in ${seconds.toFixed(1)} s (floor 120 s: ratio ${(seconds / 120).toFixed(2)})`,
  );
  if (failed.length) console.log(`Failed: ${failed.join(', ')}`);
  if (timedOut) {
    console.log(`not done: ${pending.slice(0, 20).join(', ')}`);
    const pods = await serve.core.listNamespacedPod({ namespace: 'default' });
    for (const name of pending.slice(0, 5).map((p) => p.split(' ')[0])) {
      const pod = pods.items.find((p) => p.metadata?.name === `importer-${name}`);
      const dir = path.join(serveDir, 'pods', 'default', `importer-${name}`);
      const pid = (JSON.parse(await readFile(path.join(dir, 'importer.pid'), 'utf8').catch(() => '{}')) as { pid?: number }).pid;
      const alive = pid ? existsSync(`/proc/${pid}`) : false;
      const stack = alive ? await readFile(`/proc/${pid}/wchan`, 'utf8').catch(() => '') : '';
      const log = (await readFile(path.join(dir, 'importer.log'), 'utf8').catch(() => '')).slice(-1500);
      console.log(`importer-${name}: pod ${pod?.status?.phase}, process ${pid} alive=${alive} wchan=${stack}\n${log}`);
    }
  }
  console.log(`max concurrent running importer pods: ${maxWorkers}`);
  console.log(`cdi serve peak RSS: ${rss.toFixed(0)} MiB (floor 300 MiB: ratio ${(rss / 300).toFixed(2)})`);
} finally {
  await serve.stop();
  await nginx.stop();
}
