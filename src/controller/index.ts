import { cpus } from 'node:os';
import { VersionApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { DefaultWorkerRetryBudget } from '../api/cdiconfig.ts';
import type { ImageDigestPoller } from '../api/image-digest.ts';
import type { Logger } from '../api/logger.ts';
import { UploadPki } from './certs.ts';
import { DataVolumeController } from './datavolume-controller.ts';
import { guardHandlers, makeCaches, startAll, type Cache } from './informers.ts';
import { Kube } from './kube.ts';
import { workerImages, type WorkerImageMap } from './pods.ts';
import { DataSourceController } from './datasource.ts';
import { DataImportCronController } from './golden/dataimportcron-controller.ts';
import { StorageProfileController } from './storageprofile.ts';
import { shouldManageVirtualMachines, VirtualMachineController } from './vm-controller.ts';
import { VmiController, type AcceleratorChoice } from './vmi-controller.ts';

export { createUploadFailureRecorder, createUploadTargetResolver } from './upload-resolver.ts';
export type { UploadTarget, UploadTargetResolver } from '../api/upload-target.ts';

export interface ControllerOptions {
  kubeConfig: KubeConfig;
  logger: Logger;
  /** Container images of the workers; defaults `cdi-ts/{importer,uploadserver,cloner}:latest`. */
  workerImages?: Partial<WorkerImageMap>;
  /** Worker restarts before a DataVolume goes Failed; CDIConfig `spec.workerRetryBudget` overrides. */
  retryBudget?: number;
  /** How often running transfers' progress is scraped (CDI: 2 s). */
  progressIntervalMs?: number;
  /** Namespace of CDI's signer Secrets (the upload servers' CA); it must exist. */
  namespace?: string;
  /** Create DataVolumes from VMs' dataVolumeTemplates: 'auto' does so only where no KubeVirt is installed. */
  virtualMachines?: boolean | 'auto';
  /**
   * The local VM runtime's accelerator (embedded mode only): 'auto' uses KVM when /dev/kvm opens
   * read-write, else TCG; 'tcg' forces software emulation (KubeVirt's useEmulation).
   */
  vmAccelerator?: AcceleratorChoice;
  /** Concurrent DataVolume reconciles. */
  workers?: number;
  /**
   * Importer and clone-source pods allowed at once. 'auto' (default): 4 per CPU against the
   * embedded API server, where every pod is a local process; unlimited against a real cluster,
   * whose scheduler places pods by their resource requests.
   */
  maxRunningWorkers?: number | 'auto';
  /** The clock DataImportCron schedules run on (tests inject one). */
  now?: () => Date;
  /** The registry client's digest poller for DataImportCrons (the controller itself speaks only the Kubernetes API). */
  pollDigest?: ImageDigestPoller;
  /** Called once the signers and client certificates are in their Secrets, before the informers start. */
  onCertificatesIssued?: () => void;
}

export const DefaultCdiNamespace = 'cdi';

/** The embedded API server of cdi serve says so in its version; its pods are local processes. */
async function embeddedApi(kube: Kube, logger: Logger): Promise<boolean> {
  const version = await kube.kubeConfig.makeApiClient(VersionApi).getCode().catch((err: unknown) => {
    logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err) }, 'cannot read the API server version; assuming a cluster');
    return undefined;
  });
  return version?.gitVersion?.endsWith('-cdi') ?? false;
}

function workerLimit(embedded: boolean, wanted: number | 'auto'): number {
  if (wanted !== 'auto') return wanted;
  return embedded ? 4 * cpus().length : Infinity;
}

/** Starts the DataVolume controller (and, in embedded mode, the VM template controller). */
export async function startController(opts: ControllerOptions): Promise<{ stop(): Promise<void> }> {
  const logger = opts.logger.child({ component: 'controller' });
  const kube = new Kube(opts.kubeConfig);
  const pki = new UploadPki(kube, opts.namespace ?? DefaultCdiNamespace, logger);
  await pki.sync();
  opts.onCertificatesIssued?.();
  const caches = makeCaches(kube);
  const embedded = await embeddedApi(kube, logger);
  const dvController = new DataVolumeController({
    kube,
    caches,
    pki,
    logger,
    images: workerImages(opts.workerImages),
    retryBudget: opts.retryBudget ?? DefaultWorkerRetryBudget,
    progressIntervalMs: opts.progressIntervalMs ?? 2000,
    workers: opts.workers ?? 16,
    maxRunningWorkers: workerLimit(embedded, opts.maxRunningWorkers ?? 'auto'),
    volumesOnNodeDisk: embedded,
  });
  const manageVms = opts.virtualMachines === 'auto' || opts.virtualMachines === undefined ? await shouldManageVirtualMachines(kube, logger) : opts.virtualMachines;
  // Only cdi serve's node agent runs virt-launcher pods: on a cluster, KubeVirt runs VMs.
  const vmiController = manageVms && embedded ? new VmiController(kube, caches, logger, opts.vmAccelerator ?? 'auto') : undefined;
  const vmController = manageVms ? new VirtualMachineController(kube, caches, logger, vmiController?.vmis) : undefined;
  const informers: Record<string, Cache<KubernetesObject>> = { ...(caches as unknown as Record<string, Cache<KubernetesObject>>) };
  if (vmController) informers.virtualMachines = vmController.vms as unknown as Cache<KubernetesObject>;
  if (vmiController) informers.virtualMachineInstances = vmiController.vmis as unknown as Cache<KubernetesObject>;
  for (const [name, informer] of Object.entries(informers)) guardHandlers(name, informer, logger);
  // Handlers go on before the first list so no event is missed.
  new StorageProfileController(kube, caches, logger).start();
  new DataSourceController(kube, caches, logger).start();
  const cronController = new DataImportCronController({ kube, caches, logger, ...(opts.now ? { now: opts.now } : {}), ...(opts.pollDigest ? { pollDigest: opts.pollDigest } : {}) });
  cronController.start();
  dvController.start();
  vmController?.start();
  vmiController?.start();
  const stopped = { value: false };
  await startAll(informers, logger, stopped);
  const rotation = setInterval(() => void pki.sync().catch((err) => logger.warn({ err: String(err) }, 'certificate sync failed')), 3_600_000);
  rotation.unref();
  logger.info({ virtualMachines: manageVms, vmRuntime: vmiController !== undefined, maxRunningWorkers: dvController.maxRunningWorkers }, 'controller started');
  return {
    async stop() {
      stopped.value = true;
      clearInterval(rotation);
      const stopInformer = (name: string, informer: { stop(): Promise<void> }) =>
        informer.stop().catch((err: unknown) => logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', informer: name, err: String(err) }, 'informer did not stop cleanly'));
      await Promise.all(Object.entries(informers).map(([name, informer]) => stopInformer(name, informer)));
      await Promise.all([dvController.stop(), vmController?.stop(), vmiController?.stop(), cronController.stop()]);
    },
  };
}
