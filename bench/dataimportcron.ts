/**
 * npm run bench:cron — 50 DataImportCrons on one `cdi serve`, each polling a real registry
 * (Debian's docker-registry) every minute. Prints the time to the 50 initial imports, how late
 * each cron's poll ran after the minute it was due (lastExecutionTimestamp minus the minute), the
 * registry manifest requests per poll round, and the serve process's peak RSS (VmHWM: API
 * server, node agent and controller together, an upper bound for the controller), each against
 * its floor: every cron polls within its minute, no second import of a digest, RSS ≤ 300 MiB.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { kubectl, kubectlWithInput } from '../test/support/kubectl.ts';
import { qemuImg, qemuIo } from '../test/support/qemu.ts';
import { buildOciLayout, startRegistry } from '../test/support/registry.ts';
import { eventually } from '../test/support/eventually.ts';
import { startServe } from '../test/support/serve.ts';

const Crons = 50;
const Floors = { rssMiB: 300, pollLagSeconds: 60 };
const group = { group: 'cdi.kubevirt.io', version: 'v1beta1', namespace: 'default' };

const work = await mkdtemp(path.join(tmpdir(), 'cdi-bench-cron-'));
const serve = await startServe();
process.on('exit', () => serve.child.kill('SIGKILL'));
const registry = await startRegistry();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function rss(): Promise<{ now: number; peak: number }> {
  const status = await readFile(`/proc/${serve.child.pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { now: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

try {
  const { kubeconfig, custom } = serve;

  const qcow2 = path.join(work, 'disk.qcow2');
  await qemuImg('create', '-f', 'qcow2', qcow2, '1M');
  await qemuIo(qcow2, 'qcow2', 'write -P 0x5a 0 256k');
  await registry.push(await buildOciLayout(path.join(work, 'layout'), 'latest', [{ layers: [{ files: { 'disk/disk.qcow2': { file: qcow2 } }, compression: 'gzip' }] }]), 'latest', 'bench');
  await kubectl(kubeconfig, 'patch', 'cdiconfig', 'config', '--type', 'merge', '-p', JSON.stringify({ spec: { insecureRegistries: [registry.host] } }));

  const yaml = Array.from({ length: Crons }, (_, i) => `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataImportCron
metadata:
  name: cron-${i}
spec:
  schedule: "* * * * *"
  managedDataSource: golden-${i}
  template:
    spec:
      source:
        registry:
          url: docker://${registry.host}/bench:latest
      storage:
        resources:
          requests:
            storage: 8Mi
`).join('---\n');
  const started = Date.now();
  const applied = await kubectlWithInput(kubeconfig, yaml, 'apply', '-f', '-');
  if (applied.code !== 0) throw new Error(applied.stderr);
  type Cron = { metadata: { name: string }; status?: { lastImportedPVC?: { name: string }; lastExecutionTimestamp?: string } };
  const list = async () => ((await custom.listNamespacedCustomObject({ ...group, plural: 'dataimportcrons' })) as { items: Cron[] }).items;
  await eventually(async () => (await list()).filter((c) => c.status?.lastImportedPVC).length === Crons, '50 initial imports', 600_000);
  const importSeconds = (Date.now() - started) / 1000;

  // Two minute boundaries after the imports: every cron must have polled for each within the minute.
  const lags: number[] = [];
  for (let round = 0; round < 2; round++) {
    const boundary = Math.ceil(Date.now() / 60_000) * 60_000;
    await sleep(boundary - Date.now() + 45_000);
    const crons = await list();
    for (const c of crons) lags.push((Date.parse(c.status?.lastExecutionTimestamp ?? '') - boundary) / 1000);
  }
  const dvs = ((await custom.listNamespacedCustomObject({ ...group, plural: 'datavolumes' })) as { items: unknown[] }).items.length;
  const mem = await rss();
  const late = lags.filter((l) => !(l >= 0 && l < Floors.pollLagSeconds));
  const maxLag = Math.max(...lags);
  console.log(`initial imports: ${Crons} in ${importSeconds.toFixed(1)} s`);
  console.log(`poll lag after the minute: max ${maxLag.toFixed(1)} s over ${lags.length} polls; ${late.length} late or missed (floor: all < ${Floors.pollLagSeconds} s)`);
  console.log(`DataVolumes: ${dvs} for ${Crons} crons of one digest (floor: exactly ${Crons})`);
  console.log(`serve RSS: now ${mem.now.toFixed(0)} MiB, peak ${mem.peak.toFixed(0)} MiB (floor: ≤ ${Floors.rssMiB} MiB)`);
  process.exitCode = late.length === 0 && dvs === Crons && mem.peak <= Floors.rssMiB ? 0 : 1;
} finally {
  await serve.stop();
  await registry.stop();
  await rm(work, { recursive: true, force: true });
}
