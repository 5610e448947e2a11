/**
 * The product's worker images. In cluster mode they are container images; the embedded node
 * agent recognises a pod by the repository part of its image and runs the entry script as a
 * child process instead.
 */
export const WorkerImages = {
  importer: { repository: 'cdi-ts/importer', entry: 'importer/main.ts' },
  uploadServer: { repository: 'cdi-ts/uploadserver', entry: 'uploadserver/main.ts' },
  cloner: { repository: 'cdi-ts/cloner', entry: 'importer/cloner.ts' },
} as const;

export type WorkerKind = keyof typeof WorkerImages;

/** `cdi-ts/importer:v1` or `registry.example/cdi-ts/importer@sha256:…` → 'importer'. */
export function workerKindOfImage(image: string): WorkerKind | undefined {
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  const repo = lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
  for (const [kind, img] of Object.entries(WorkerImages)) {
    if (repo === img.repository || repo.endsWith(`/${img.repository}`)) return kind as WorkerKind;
  }
  return undefined;
}

/**
 * KubeVirt's virt-launcher, as the product builds it: one image whose `compute` container runs
 * QEMU for a VirtualMachineInstance and whose `guest-console-log` container streams the guest's
 * serial console (KubeVirt 1.x runs virt-tail there; here a POSIX shell script around GNU tail,
 * no Node runtime). The container name picks the entry, as the command does in KubeVirt's pod;
 * the local node agent accepts no command.
 */
export const LauncherImage = {
  repository: 'cdi-ts/virt-launcher',
  entries: { compute: 'virtlauncher/main.ts', 'guest-console-log': 'virtlauncher/console-log.sh' },
} as const;

/** KubeVirt's device-plugin resource for /dev/kvm: a container asking for it joins /dev/kvm's group. */
export const KvmResource = 'devices.kubevirt.io/kvm';

export type LauncherContainer = keyof typeof LauncherImage.entries;

/** Every process kind the local node agent runs: the CDI workers and the two launcher containers. */
export type NodeKind = WorkerKind | 'virtLauncher' | 'guestConsoleLog';

const launcherKinds: Record<LauncherContainer, NodeKind> = { compute: 'virtLauncher', 'guest-console-log': 'guestConsoleLog' };

/** The kind of a pod container: a worker by its image, a launcher container by image and name. */
export function nodeKindOf(c: { image?: string; name?: string }): NodeKind | undefined {
  const image = c.image ?? '';
  const worker = workerKindOfImage(image);
  if (worker) return worker;
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  const repo = lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
  if (repo !== LauncherImage.repository && !repo.endsWith(`/${LauncherImage.repository}`)) return undefined;
  return Object.hasOwn(launcherKinds, c.name ?? '') ? launcherKinds[c.name as LauncherContainer] : undefined;
}

/** The script a node kind runs. */
export function nodeEntryOf(kind: NodeKind): string {
  if (kind === 'virtLauncher') return LauncherImage.entries.compute;
  if (kind === 'guestConsoleLog') return LauncherImage.entries['guest-console-log'];
  return WorkerImages[kind].entry;
}
