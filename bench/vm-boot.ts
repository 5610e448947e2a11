/**
 * npm run bench:vm — the local VM runtime on one `cdi serve`: the test suite's bootable disk
 * (test/support/bootable-disk.ts, built to stay up) is imported once; then a VM using its claim
 * is created and the time to the guest's first console line, and to its init's marker, is
 * measured from the create call. While the guest runs, the resident memory of the runtime's
 * own processes (the launcher's compute container, Node, and its guest-console-log container,
 * sh + GNU tail) is printed beside QEMU's. Accelerator: `--vm-accelerator kvm|tcg|auto` (default tcg, the machine's KVM may not work).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { buildBootableDisk, GuestLines } from '../test/support/bootable-disk.ts';
import { startNginx } from '../test/support/nginx.ts';
import { cacheDir } from '../test/support/qemu.ts';
import { eventually } from '../test/support/eventually.ts';

const accelIndex = process.argv.indexOf('--vm-accelerator');
const accelerator = accelIndex > 0 ? (process.argv[accelIndex + 1] ?? 'tcg') : 'tcg';
const work = await mkdtemp(path.join(tmpdir(), 'cdi-bench-vm-'));
const dataDir = path.join(work, 'serve');
const cdi = path.join(import.meta.dirname, '../bin/cdi');
const serve = spawn(cdi, ['serve', '--data-dir', dataDir, '--port', '0', '--upload-proxy-port', '0', '--vm-accelerator', accelerator], {
  stdio: ['ignore', 'ignore', 'pipe'],
  env: { ...process.env, LOG_LEVEL: 'warn' },
});
process.on('exit', () => serve.kill('SIGKILL'));
let log = '';
serve.stderr.on('data', (d: Buffer) => (log += d.toString()));
/** The shared poller, its timeout error carrying serve's last log lines. */
const until = <T>(what: string, timeoutMs: number, pollMs: number, check: () => Promise<T | undefined>) =>
  eventually(check, () => `${what}\n${log.slice(-2000)}`, timeoutMs, pollMs);

const diskDir = await cacheDir('vm');
const disk = await buildBootableDisk(diskDir, { marker: 'bench', payload: Buffer.from('bench payload\n'), format: 'qcow2', hold: true });
const nginx = await startNginx({ root: diskDir });
await until('cdi serve ready', 60_000, 100, async () => (log.includes('cdi serve is ready') ? true : undefined));
const kc = new KubeConfig();
kc.loadFromFile(path.join(dataDir, 'kubeconfig'));
const core = kc.makeApiClient(CoreV1Api);
const custom = kc.makeApiClient(CustomObjectsApi);
const ns = 'default';

await custom.createNamespacedCustomObject({
  group: 'cdi.kubevirt.io',
  version: 'v1beta1',
  namespace: ns,
  plural: 'datavolumes',
  body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'bench-root' }, spec: { source: { http: { url: `${nginx.plain}/${path.basename(disk.path)}` } }, storage: { resources: { requests: { storage: '128Mi' } } } } },
});
await until('DataVolume imported', 120_000, 200, async () => {
  const dv = (await custom.getNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', namespace: ns, plural: 'datavolumes', name: 'bench-root' })) as { status?: { phase?: string } };
  return dv.status?.phase === 'Succeeded' ? true : undefined;
});

const vm = {
  apiVersion: 'kubevirt.io/v1',
  kind: 'VirtualMachine',
  metadata: { name: 'bench' },
  spec: {
    runStrategy: 'Always',
    template: { spec: { domain: { resources: { requests: { memory: '256Mi' } }, devices: { disks: [{ name: 'root', disk: { bus: 'virtio' } }] } }, volumes: [{ name: 'root', persistentVolumeClaim: { claimName: 'bench-root' } }] } },
  },
};
const t0 = performance.now();
await custom.createNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: ns, plural: 'virtualmachines', body: vm });
const podName = await until('launcher pod', 60_000, 20, async () => {
  const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'vm.kubevirt.io/name=bench' });
  return pods.items[0]?.metadata?.name;
});
const consoleText = () => core.readNamespacedPodLog({ namespace: ns, name: podName, container: 'guest-console-log' }).catch(() => '');
const firstLine = await until('first console line', 240_000, 20, async () => ((await consoleText()).includes('\n') ? performance.now() - t0 : undefined));
const marker = await until('init marker', 240_000, 50, async () => ((await consoleText()).includes(GuestLines.marker('bench')) ? performance.now() - t0 : undefined));
await until('guest holding', 240_000, 100, async () => ((await consoleText()).includes(GuestLines.holding) ? true : undefined));

/** Resident memory (VmRSS) of the processes whose command line matches. */
async function rssMiB(match: (cmdline: string) => boolean): Promise<number> {
  let total = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline || !match(cmdline)) continue;
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1];
    if (kb) total += Number(kb) / 1024;
  }
  return total;
}
const isQemu = (c: string) => c.startsWith('/usr/bin/qemu-system-x86_64') || (c.includes('qemu-system-x86_64') && !c.includes('setpriv'));
const launcher = await rssMiB((c) => c.includes('virtlauncher/main.ts') && !c.startsWith('/usr/bin/setpriv'));
// console-log.sh execs tail, which follows the console file until the launcher's pid is gone.
const consoleLog = await rssMiB((c) => (c.includes('virtlauncher/console-log.sh') || (c.startsWith('tail\0') && c.includes('--pid=') && c.includes('console.log'))) && !c.startsWith('/usr/bin/setpriv'));
const qemu = await rssMiB((c) => isQemu(c) && c.includes('guest=bench'));

console.log(`accelerator: ${accelerator}`);
console.log(`VM create -> first console line: ${(firstLine / 1000).toFixed(2)} s`);
console.log(`VM create -> guest init marker:  ${(marker / 1000).toFixed(2)} s`);
console.log(`memory (VmRSS): launcher compute ${launcher.toFixed(1)} MiB + guest-console-log ${consoleLog.toFixed(1)} MiB = runtime ${(launcher + consoleLog).toFixed(1)} MiB; QEMU ${qemu.toFixed(1)} MiB (guest memory 256 MiB)`);

await custom.deleteNamespacedCustomObject({ group: 'kubevirt.io', version: 'v1', namespace: ns, plural: 'virtualmachines', name: 'bench' });
serve.kill('SIGINT');
await new Promise((r) => serve.once('exit', r));
await nginx.stop();
await rm(work, { recursive: true, force: true });
