import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootableDisk, GuestHttpPort, GuestLines, type BootableDisk } from '../support/bootable-disk.ts';
import { kubectl, kubectlWithInput } from '../support/kubectl.ts';
import { startNginx, type Nginx } from '../support/nginx.ts';
import { cacheDir } from '../support/qemu.ts';
import { eventually } from '../support/eventually.ts';
import { startServe, type Serve } from '../support/serve.ts';

/**
 * The local VM runtime end to end through `cdi serve` and kubectl: a VM whose
 * dataVolumeTemplates import a bootable disk over HTTP boots under QEMU in a virt-launcher pod,
 * its init prints a marker, the digest of a file it read from its ext4 root and the cloud-init
 * user-data it found, and powers off. TCG is forced: the result must not depend on the host's
 * KVM (here /dev/kvm is kvm-pvm, which opens but cannot run firmware; vm-container-disk runs the
 * default probe instead).
 */
let serve: Serve;
let nginx: Nginx;
let disk: BootableDisk;
let holdingDisk: BootableDisk;

const vmRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };
const vmiRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };

interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Vm {
  spec?: { runStrategy?: string; running?: boolean };
  status?: { printableStatus?: string; ready?: boolean; conditions?: Cond[] };
}
interface Vmi {
  metadata?: { uid?: string };
  status?: { phase?: string; conditions?: Cond[] };
}

async function apply(yaml: string): Promise<void> {
  const r = await kubectlWithInput(serve.kubeconfig, yaml, 'apply', '-f', '-');
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

const getVm = async (name: string) => (await serve.custom.getNamespacedCustomObject({ ...vmRef, namespace: 'default', name })) as Vm;
const getVmi = async (name: string) => (await serve.custom.getNamespacedCustomObject({ ...vmiRef, namespace: 'default', name }).catch(() => undefined)) as Vmi | undefined;

async function vmiPhase(name: string, phase: string, timeoutMs = 240_000): Promise<Vmi> {
  let seen = '';
  return eventually(
    async () => {
      const vmi = await getVmi(name);
      seen = `${vmi?.status?.phase} ${JSON.stringify(vmi?.status?.conditions)}`;
      return vmi?.status?.phase === phase ? vmi : undefined;
    },
    `VMI ${name} ${phase}`,
    timeoutMs,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)} (last seen: ${seen})`);
  });
}

async function printable(name: string, status: string, timeoutMs = 120_000): Promise<Vm> {
  let seen = '';
  return eventually(
    async () => {
      const vm = await getVm(name).catch((err: unknown) => {
        seen = `error ${String(err).slice(0, 200)}`;
        throw err;
      });
      seen = `${vm.status?.printableStatus}`;
      return vm.status?.printableStatus === status ? vm : undefined;
    },
    `VM ${name} printableStatus ${status}`,
    timeoutMs,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)} (last seen: ${seen})`);
  });
}

/** The launcher pod of a VM's VMI (of the VMI with `vmiUid`: an earlier run's pod may still be terminating). */
async function launcherPod(vm: string, vmiUid?: string): Promise<string> {
  const selector = `kubevirt.io=virt-launcher,vm.kubevirt.io/name=${vm}${vmiUid ? `,kubevirt.io/created-by=${vmiUid}` : ''}`;
  return eventually(async () => {
    const r = await kubectl(serve.kubeconfig, 'get', 'pods', '-l', selector, '-o', 'jsonpath={.items[*].metadata.name}');
    return r.stdout.trim() || undefined;
  }, `virt-launcher pod of ${vm}`);
}

async function consoleOf(pod: string): Promise<string> {
  const r = await kubectl(serve.kubeconfig, 'logs', pod, '-c', 'guest-console-log');
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

async function subresource(vm: string, action: string): Promise<{ code: number; stderr: string }> {
  return kubectlWithInput(serve.kubeconfig, '{}', 'replace', '--raw', `/apis/subresources.kubevirt.io/v1/namespaces/default/virtualmachines/${vm}/${action}`, '-f', '-');
}

function vmYaml(name: string, runStrategy: string, url: string, extra = { disks: '', volumes: '', devices: '', networks: '' }): string {
  return `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata:
  name: ${name}
spec:
  runStrategy: ${runStrategy}
  dataVolumeTemplates:
  - metadata: {name: ${name}-root}
    spec:
      source: {http: {url: "${url}"}}
      storage: {resources: {requests: {storage: 128Mi}}}
  template:
    spec:
      domain:
        resources: {requests: {memory: 256Mi}}
        devices:
          disks:
          - {name: root, disk: {bus: virtio}, bootOrder: 1}${extra.disks}${extra.devices}${extra.networks}
      volumes:
      - {name: root, dataVolume: {name: ${name}-root}}${extra.volumes}
`;
}

beforeAll(async () => {
  const dir = await cacheDir('vm');
  disk = await buildBootableDisk(dir, { marker: 'e2e-boot', payload: Buffer.from('bytes the guest reads from its ext4 root\n'), format: 'qcow2' });
  holdingDisk = await buildBootableDisk(dir, { marker: 'e2e-hold', payload: Buffer.from('held\n'), format: 'qcow2', hold: true });
  [serve, nginx] = await Promise.all([startServe({ extraArgs: ['--vm-accelerator', 'tcg'] }), startNginx({ root: dir })]);
});

afterAll(async () => {
  await Promise.all([serve?.stop(), nginx?.stop()]);
});

const url = (d: BootableDisk) => `${nginx.plain}/${d.path.split('/').at(-1)}`;

describe('VMs through cdi serve and kubectl', () => {
  it('boots an imported disk with cloud-init NoCloud user-data; the guest powers off and the VMI ends Succeeded', async () => {
    await apply(
      vmYaml('boot', 'Once', url(disk), {
        disks: '\n          - {name: cloudinit, disk: {bus: virtio}}',
        volumes: '\n      - name: cloudinit\n        cloudInitNoCloud:\n          userData: |\n            #cloud-config\n            marker: userdata-reached-the-guest',
        devices: '',
        networks: '',
      }),
    );
    const vmi = await vmiPhase('boot', 'Succeeded');
    expect(vmi.status?.conditions?.find((c) => c.type === 'SoftwareEmulation')).toMatchObject({ status: 'True' });
    const pod = await launcherPod('boot');
    expect(pod).toMatch(/^virt-launcher-boot-[a-z0-9]{5}$/);
    const console = await consoleOf(pod);
    expect(console).toContain(GuestLines.marker('e2e-boot'));
    expect(console).toContain(GuestLines.payload(disk.payloadSha256));
    expect(console).toContain(`${GuestLines.userData}marker: userdata-reached-the-guest`);
    expect(console).toContain(GuestLines.poweroff);
    const vm = await printable('boot', 'Stopped');
    expect(vm.status?.ready).toBe(false);
    const phase = await kubectl(serve.kubeconfig, 'get', 'pod', pod, '-o', 'jsonpath={.status.phase}');
    expect(phase.stdout).toBe('Succeeded');
  });

  it('runs a guest that stays up: Running and ready, then stop, start and restart through the subresource paths', async () => {
    await apply(
      vmYaml('held', 'Always', url(holdingDisk), {
        disks: '',
        volumes: '',
        devices: `\n          interfaces: [{name: default, masquerade: {}, ports: [{name: http, port: ${GuestHttpPort}}]}]`,
        networks: '\n      networks: [{name: default, pod: {}}]',
      }),
    );
    const first = await vmiPhase('held', 'Running');
    const running = await printable('held', 'Running');
    await eventually(async () => ((await getVm('held')).status?.ready ? true : undefined), 'VM held ready');
    expect(running.status?.conditions?.find((c) => c.type === 'DataVolumesReady')?.status).toBe('True');
    const pod = await launcherPod('held');
    await eventually(async () => ((await consoleOf(pod)).includes(GuestLines.holding) ? true : undefined), 'guest holding', 240_000);
    // The interface's port reaches the guest's HTTP server from 127.0.0.1 on the pod's host port.
    const portMap = await kubectl(serve.kubeconfig, 'get', 'pod', pod, '-o', 'jsonpath={.metadata.annotations.local\\.cdi\\.kubevirt\\.io/port-map}');
    const hostPort = (JSON.parse(portMap.stdout) as Record<string, number>)[String(GuestHttpPort)];
    expect(hostPort).toBeGreaterThan(0);
    const page = await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${hostPort}/`).catch(() => undefined);
      return res?.ok ? res.text() : undefined;
    }, 'guest HTTP server through the forwarded port');
    expect(page.trim()).toBe(GuestLines.marker('e2e-hold'));

    expect((await subresource('held', 'start')).stderr).toContain('VM is already running');
    const stop = await subresource('held', 'stop');
    expect(stop.code, stop.stderr).toBe(0);
    expect((await getVm('held')).spec?.runStrategy).toBe('Halted');
    await printable('held', 'Stopped');
    await eventually(async () => ((await getVmi('held')) ? undefined : true), 'VMI held deleted');
    await eventually(async () => {
      const r = await kubectl(serve.kubeconfig, 'get', 'pods', '-l', 'vm.kubevirt.io/name=held', '-o', 'name');
      return r.stdout.trim() === '' ? true : undefined;
    }, 'launcher pod of held gone');
    expect((await subresource('held', 'stop')).stderr).toContain('VM is not running');

    const start = await subresource('held', 'start');
    expect(start.code, start.stderr).toBe(0);
    expect((await getVm('held')).spec?.runStrategy).toBe('Always');
    const second = await vmiPhase('held', 'Running');
    expect(second.metadata?.uid).not.toBe(first.metadata?.uid);

    const restart = await subresource('held', 'restart');
    expect(restart.code, restart.stderr).toBe(0);
    const third = await eventually(async () => {
      const vmi = await getVmi('held');
      return vmi && vmi.metadata?.uid !== second.metadata?.uid && vmi.status?.phase === 'Running' ? vmi : undefined;
    }, 'VMI held restarted', 120_000);
    expect(third.metadata?.uid).not.toBe(second.metadata?.uid);

    // A launcher pod deleted under a running guest fails its VMI; Always backs off before the next.
    const gone = await kubectl(serve.kubeconfig, 'delete', 'pod', await launcherPod('held', third.metadata?.uid), '--wait=false');
    expect(gone.code, gone.stderr).toBe(0);
    const looping = await printable('held', 'CrashLoopBackOff');
    expect((looping.status as { startFailure?: { consecutiveFailCount?: number } }).startFailure?.consecutiveFailCount).toBe(1);

    const del = await kubectl(serve.kubeconfig, 'delete', 'vm', 'held');
    expect(del.code, del.stderr).toBe(0);
    await eventually(async () => {
      const r = await kubectl(serve.kubeconfig, 'get', 'vmi,pods', '-o', 'name');
      return /held/.test(r.stdout) ? undefined : true;
    }, 'VM held, its VMI and pod deleted');
  }, 400_000);

  it('refuses bad input with clear conditions and cdi serve stays healthy', async () => {
    await apply(`apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: missing-dv}
spec:
  runStrategy: Always
  template:
    spec:
      domain: {devices: {disks: [{name: root, disk: {bus: virtio}}]}}
      volumes: [{name: root, dataVolume: {name: no-such-dv}}]
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: blank}
spec:
  runStrategy: Once
  dataVolumeTemplates:
  - metadata: {name: blank-root}
    spec: {source: {blank: {}}, storage: {resources: {requests: {storage: 16Mi}}}}
  template:
    spec:
      domain: {devices: {disks: [{name: root, disk: {bus: virtio}}]}}
      volumes: [{name: root, dataVolume: {name: blank-root}}]
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: qemu-fails}
spec:
  runStrategy: Once
  template:
    spec:
      domain: {cpu: {cores: 5000}, devices: {disks: [{name: scratch, cdrom: {bus: sata}}]}}
      volumes: [{name: scratch, emptyDisk: {capacity: 16Mi}}]
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: gpu}
spec:
  runStrategy: Always
  template:
    spec:
      domain:
        devices:
          disks: [{name: scratch, disk: {bus: virtio}}]
          gpus: [{name: gpu1, deviceName: nvidia.com/TU104GL_Tesla_T4}]
          interfaces: [{name: net, sriov: {}}]
      networks: [{name: net, multus: {networkName: sriov-net}}]
      volumes: [{name: scratch, emptyDisk: {capacity: 16Mi}}]
`);
    const missing = await printable('missing-dv', 'ErrorPvcNotFound');
    expect(missing.status?.ready).toBe(false);
    expect(await getVmi('missing-dv')).toBeUndefined();

    const blank = await vmiPhase('blank', 'Failed');
    expect(blank.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(/no bootable disk: root has no boot signature/);
    await printable('blank', 'Stopped');

    const crashed = await vmiPhase('qemu-fails', 'Failed');
    expect(crashed.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(/^QEMU exited with status 1: .*CPUs/s);

    const gpu = await eventually(async () => {
      const vmi = await getVmi('gpu');
      return vmi?.status?.conditions?.find((c) => c.type === 'Synchronized' && c.status === 'False') ? vmi : undefined;
    }, 'VMI gpu refused');
    expect(gpu.status?.phase).toBe('Pending');
    const refusal = gpu.status?.conditions?.find((c) => c.type === 'Synchronized')?.message ?? '';
    expect(refusal).toContain('spec.domain.devices.gpus is not supported by the local VM runtime');
    expect(refusal).toContain('SR-IOV is not supported');
    expect(refusal).toContain('Multus networks are not supported');
    const vm = await printable('gpu', 'ErrorUnschedulable');
    expect(vm.status?.conditions?.find((c) => c.type === 'Failure')).toMatchObject({ status: 'True', reason: 'FailedCreate' });
    const pods = await kubectl(serve.kubeconfig, 'get', 'pods', '-l', 'vm.kubevirt.io/name=gpu', '-o', 'name');
    expect(pods.stdout.trim()).toBe('');

    const ready = await kubectl(serve.kubeconfig, 'get', '--raw', '/readyz');
    expect(ready.stdout).toBe('ok');
  });
});
