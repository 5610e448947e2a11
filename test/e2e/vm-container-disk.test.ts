import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBootableDisk, GuestLines, type BootableDisk } from '../support/bootable-disk.ts';
import { makeCerts } from '../support/certs.ts';
import { eventually } from '../support/eventually.ts';
import { kubectl, kubectlWithInput } from '../support/kubectl.ts';
import { cacheDir, sha256File } from '../support/qemu.ts';
import { buildOciLayout, startRegistry, type Registry } from '../support/registry.ts';
import { startServe, type Serve } from '../support/serve.ts';

/**
 * containerDisk and cloud-init ConfigDrive through `cdi serve`: a `FROM scratch` containerDisk
 * (the bootable test disk as /disk/disk.qcow2, pushed with skopeo to Debian's docker-registry
 * behind TLS and htpasswd) is pulled by the node with the VMI's imagePullSecret into its image
 * store and booted as an ephemeral disk; the guest prints a ConfigDrive's user_data that came from
 * a Secret (secretRef). A raw EFI disk (GPT, syslinux.efi) at a custom `path` boots under OVMF. The machine has no registry credentials of its own here. The serve runs
 * with the default accelerator choice: where KVM cannot run a guest, the VMI says why it emulates.
 */
const user = 'vm-puller';
const password = 'vm-s3cret';
let serve: Serve;
let registry: Registry;
let work: string;
let disk: BootableDisk;
let efiDisk: BootableDisk;
const saved = { REGISTRY_AUTH_FILE: process.env.REGISTRY_AUTH_FILE, DOCKER_CONFIG: process.env.DOCKER_CONFIG, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME };
const vmiRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
const vmRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };

interface Cond {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface Vmi {
  status?: { phase?: string; conditions?: Cond[] };
}

async function apply(yaml: string): Promise<void> {
  const r = await kubectlWithInput(serve.kubeconfig, yaml, 'apply', '-f', '-');
  if (r.code !== 0) throw new Error(`kubectl apply failed: ${r.stderr}`);
}

const getVmi = async (name: string) => (await serve.custom.getNamespacedCustomObject({ ...vmiRef, namespace: 'default', name }).catch(() => undefined)) as Vmi | undefined;
const printable = async (name: string) => ((await serve.custom.getNamespacedCustomObject({ ...vmRef, namespace: 'default', name })) as { status?: { printableStatus?: string } }).status?.printableStatus;

async function vmiWhere(name: string, what: string, check: (vmi: Vmi) => boolean, timeoutMs = 240_000): Promise<Vmi> {
  let seen = '';
  return eventually(
    async () => {
      const vmi = await getVmi(name);
      seen = `${vmi?.status?.phase} ${JSON.stringify(vmi?.status?.conditions)}`;
      return vmi && check(vmi) ? vmi : undefined;
    },
    `VMI ${name} ${what}`,
    timeoutMs,
  ).catch((err: unknown) => {
    throw new Error(`${String(err)} (last seen: ${seen})`);
  });
}

const synchronized = (vmi: Vmi) => vmi.status?.conditions?.find((c) => c.type === 'Synchronized' && c.status === 'False');

function vmYaml(name: string, volume: string, extra = '', firmware = ''): string {
  return `apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: ${name}}
spec:
  runStrategy: Once
  template:
    spec:
      domain:
        resources: {requests: {memory: 256Mi}}${firmware}
        devices:
          disks:
          - {name: root, disk: {bus: virtio}}${extra ? '\n          - {name: cloudinit, disk: {bus: virtio}}' : ''}
      volumes:
      - name: root
        containerDisk: ${volume}${extra}
`;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), 'cdi-e2e-vm-cd-'));
  disk = await buildBootableDisk(await cacheDir('vm'), { marker: 'container-disk', payload: Buffer.from('bytes of a containerDisk\n'), format: 'qcow2' });
  efiDisk = await buildBootableDisk(await cacheDir('vm'), { marker: 'efi-container-disk', payload: Buffer.from('bytes of an EFI guest\n'), format: 'raw', firmware: 'efi' });
  registry = await startRegistry({ auth: { kind: 'htpasswd', user, password }, certs: await makeCerts(path.join(work, 'pki')) });
  const bootable = await buildOciLayout(path.join(work, 'bootable'), 'v1', [{ layers: [{ files: { 'disk/disk.qcow2': { file: disk.path } }, compression: 'gzip' }] }]);
  const noDisk = await buildOciLayout(path.join(work, 'no-disk'), 'v1', [{ layers: [{ files: { 'etc/motd': { text: 'no disk here\n' } }, compression: 'gzip' }] }]);
  await registry.push(bootable, 'v1', 'vms/bootable');
  await registry.push(noDisk, 'v1', 'vms/no-disk');
  const efi = await buildOciLayout(path.join(work, 'efi'), 'v1', [{ layers: [{ files: { 'custom/efi.img': { file: efiDisk.path } }, compression: 'zstd' }] }]);
  await registry.push(efi, 'v1', 'vms/efi');
  // The VMI's imagePullSecret is the only way in: the machine's credential files are out of the test.
  const empty = path.join(work, 'auth.json');
  await writeFile(empty, '{"auths":{}}');
  process.env.REGISTRY_AUTH_FILE = empty;
  process.env.DOCKER_CONFIG = path.join(work, 'no-docker-config');
  process.env.XDG_CONFIG_HOME = path.join(work, 'no-xdg-config');
  serve = await startServe();
}, 300_000);

afterAll(async () => {
  await Promise.all([serve?.stop(), registry?.stop()]);
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (work) await rm(work, { recursive: true, force: true });
});

describe('containerDisk VMs through cdi serve', () => {
  it('pulls the containerDisk with its imagePullSecret, boots it as an ephemeral disk, and the guest reads a ConfigDrive user_data from a Secret', async () => {
    const dockerConfig = JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from(`${user}:${password}`).toString('base64') } } });
    await apply(`apiVersion: v1
kind: Secret
metadata: {name: registry-pull}
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '${dockerConfig}'
---
apiVersion: v1
kind: Secret
metadata: {name: vm-userdata}
stringData:
  userdata: |
    #cloud-config
    marker: configdrive-from-a-secret
---
${vmYaml('cd-boot', `{image: "${registry.host}/vms/bootable:v1", imagePullSecret: registry-pull}`, '\n      - name: cloudinit\n        cloudInitConfigDrive: {secretRef: {name: vm-userdata}}')}`);
    const vmi = await vmiWhere('cd-boot', 'Succeeded', (v) => v.status?.phase === 'Succeeded' || v.status?.phase === 'Failed');
    const podStatus = await kubectl(serve.kubeconfig, 'get', 'pods', '-l', 'vm.kubevirt.io/name=cd-boot', '-o', 'jsonpath={.items[0].status.containerStatuses}');
    expect(vmi.status?.phase, `${JSON.stringify(vmi.status?.conditions)} ${podStatus.stdout}`).toBe('Succeeded');
    const emulation = vmi.status?.conditions?.find((c) => c.type === 'SoftwareEmulation');
    // Without a usable KVM the VMI says why it runs under TCG (no /dev/kvm, or the probe's failure).
    if (emulation) expect(emulation).toMatchObject({ status: 'True', reason: 'KVMUnavailable', message: expect.stringMatching(/KVM/) });

    const pod = (await kubectl(serve.kubeconfig, 'get', 'pods', '-l', 'vm.kubevirt.io/name=cd-boot', '-o', 'jsonpath={.items[0].metadata.name}')).stdout;
    const logs = await kubectl(serve.kubeconfig, 'logs', pod, '-c', 'guest-console-log');
    expect(logs.stdout).toContain(GuestLines.marker('container-disk'));
    expect(logs.stdout).toContain(GuestLines.payload(disk.payloadSha256));
    expect(logs.stdout).toContain(`${GuestLines.configDriveUserData}marker: configdrive-from-a-secret`);
    expect(logs.stdout).toContain(GuestLines.poweroff);

    // The node's image store holds the pushed qcow2 byte for byte, keyed by the manifest digest: the guest wrote to a throw-away overlay.
    const store = path.join(serve.dataDir, 'images', 'sha256');
    const [digestDir] = await readdir(store);
    expect(digestDir).toMatch(/^[0-9a-f]{64}$/);
    expect(await sha256File(path.join(store, digestDir!, 'disk'))).toBe(await sha256File(disk.path));
    const events = await kubectl(serve.kubeconfig, 'get', 'events', '--field-selector', `involvedObject.name=${pod}`, '-o', 'jsonpath={.items[*].message}');
    expect(events.stdout).toContain(`Successfully pulled image "${registry.host}/vms/bootable:v1" (sha256:${digestDir})`);
  }, 400_000);

  it('boots an EFI guest under OVMF from a raw containerDisk at a custom path', async () => {
    await apply(vmYaml('cd-efi', `{image: "${registry.host}/vms/efi:v1", path: /custom/efi.img, imagePullSecret: registry-pull}`, '', '\n        firmware: {bootloader: {efi: {secureBoot: false}}}'));
    const vmi = await vmiWhere('cd-efi', 'Succeeded', (v) => v.status?.phase === 'Succeeded' || v.status?.phase === 'Failed', 360_000);
    expect(vmi.status?.phase, JSON.stringify(vmi.status?.conditions)).toBe('Succeeded');
    const pod = (await kubectl(serve.kubeconfig, 'get', 'pods', '-l', 'vm.kubevirt.io/name=cd-efi', '-o', 'jsonpath={.items[0].metadata.name}')).stdout;
    const logs = await kubectl(serve.kubeconfig, 'logs', pod, '-c', 'guest-console-log');
    expect(logs.stdout).toContain('BdsDxe: starting');
    expect(logs.stdout).toContain(GuestLines.marker('efi-container-disk'));
    expect(logs.stdout).toContain(GuestLines.payload(efiDisk.payloadSha256));
    expect(logs.stdout).toContain(GuestLines.poweroff);
  }, 400_000);

  it('names what is wrong with a containerDisk in the VMI: no image, no /disk in the image, a path the image lacks, no credentials', async () => {
    await apply(`${vmYaml('cd-no-image', '{imagePullPolicy: Always}')}---
${vmYaml('cd-no-disk', `{image: "${registry.host}/vms/no-disk:v1", imagePullSecret: registry-pull}`)}---
${vmYaml('cd-bad-path', `{image: "${registry.host}/vms/bootable:v1", path: /no/such.img, imagePullSecret: registry-pull}`)}---
${vmYaml('cd-no-creds', `{image: "${registry.host}/vms/bootable:v1", imagePullPolicy: Always}`)}`);
    const noImage = await vmiWhere('cd-no-image', 'refused', (v) => synchronized(v) !== undefined);
    expect(noImage.status?.phase).toBe('Pending');
    expect(synchronized(noImage)).toMatchObject({ reason: 'FailedCreate', message: 'volume root: containerDisk.image is required' });

    const noDisk = await vmiWhere('cd-no-disk', 'ErrImagePull', (v) => synchronized(v)?.reason === 'ErrImagePull');
    expect(synchronized(noDisk)?.message).toContain('Failed to find VM disk image file in the container image');
    expect(noDisk.status?.phase).not.toBe('Running');
    await eventually(async () => ((await printable('cd-no-disk')) === 'ErrImagePull' ? true : undefined), 'VM cd-no-disk printableStatus ErrImagePull');

    const badPath = await vmiWhere('cd-bad-path', 'ErrImagePull', (v) => synchronized(v)?.reason === 'ErrImagePull');
    expect(synchronized(badPath)?.message).toContain('the container image has no regular file /no/such.img');

    const noCreds = await vmiWhere('cd-no-creds', 'ErrImagePull', (v) => synchronized(v)?.reason === 'ErrImagePull');
    expect(synchronized(noCreds)?.message).toContain('denied access: the registry wants credentials and none were given');

    const ready = await kubectl(serve.kubeconfig, 'get', '--raw', '/readyz');
    expect(ready.stdout).toBe('ok');
  }, 200_000);
});
