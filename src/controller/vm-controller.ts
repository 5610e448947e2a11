import { isDeepStrictEqual } from 'node:util';
import { makeInformer, type KubernetesObject } from '@kubernetes/client-node';
import type { DataVolume } from '../api/datavolume.ts';
import type { Logger } from '../api/logger.ts';
import { cdi, type Cache, type Caches } from './informers.ts';
import { recordEvent } from './events.ts';
import { isConflict, isNotFound, type Kube } from './kube.ts';
import { key, splitKey } from './names.ts';
import { reconcileVirtualMachine, resolveTemplateSourceRef, type VirtualMachine } from './vm.ts';
import { runWorkers, WorkQueue } from './workqueue.ts';
import { rfc3339 } from '../api/time.ts';

/**
 * Embedded stand-in for KubeVirt's virt-controller, DataVolume part only: creates the DataVolumes
 * of `spec.dataVolumeTemplates` (owned by the VM, so deleting the VM cascades) and reports in the
 * VM's status whether they are ready. It only runs where no KubeVirt install owns VMs.
 */
const vmRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachines' };

/** True when the API serves VirtualMachines and no KubeVirt CR says virt-controller is there. */
export async function shouldManageVirtualMachines(kube: Kube, logger: Logger): Promise<boolean> {
  try {
    await kube.listCustom(vmRef);
  } catch (err) {
    if (!isNotFound(err)) logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err) }, 'cannot list VirtualMachines; not managing them');
    return false;
  }
  try {
    const kubevirts = await kube.listCustom({ group: 'kubevirt.io', version: 'v1', plural: 'kubevirts' });
    return kubevirts.items.length === 0;
  } catch (err) {
    if (isNotFound(err)) return true;
    logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err) }, 'cannot list KubeVirt CRs; leaving VirtualMachines to KubeVirt');
    return false;
  }
}

export class VirtualMachineController {
  readonly queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 30_000 });
  readonly vms: Cache<VirtualMachine & KubernetesObject>;
  private running: Promise<void> | undefined;
  private readonly kube: Kube;
  private readonly caches: Caches;
  private readonly logger: Logger;

  constructor(kube: Kube, caches: Caches, logger: Logger) {
    this.kube = kube;
    this.caches = caches;
    this.logger = logger;
    this.vms = makeInformer<VirtualMachine & KubernetesObject>(kube.kubeConfig, '/apis/kubevirt.io/v1/virtualmachines', () =>
      kube.listCustom<VirtualMachine & KubernetesObject>(vmRef),
    );
  }

  start(): void {
    for (const verb of ['add', 'update'] as const) this.vms.on(verb, (vm) => this.queue.add(key(vm.metadata?.namespace, vm.metadata?.name)));
    const fromDv = (dv: DataVolume) => {
      const owner = dv.metadata?.ownerReferences?.find((r) => r.kind === 'VirtualMachine' && r.controller);
      if (owner) this.queue.add(key(dv.metadata?.namespace, owner.name));
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.caches.dataVolumes.on(verb, fromDv);
    this.running = runWorkers(this.queue, 2, async (k) => {
      try {
        await this.reconcile(k);
        this.queue.forget(k);
      } catch (err) {
        this.logger.warn({ code: 'CDI_ERR_RECONCILE', virtualMachine: k, err: String(err) }, 'VM reconcile failed');
        this.queue.addRateLimited(k);
      }
    });
    for (const vm of this.vms.list()) this.queue.add(key(vm.metadata?.namespace, vm.metadata?.name));
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await this.vms.stop();
    await this.running;
  }

  private async reconcile(k: string): Promise<void> {
    const { namespace, name } = splitKey(k);
    const vm = this.vms.get(name, namespace);
    if (!vm || vm.metadata?.deletionTimestamp) return;
    const existing = new Map<string, DataVolume>();
    for (const t of vm.spec?.dataVolumeTemplates ?? []) {
      const dv = this.caches.dataVolumes.get(t.metadata?.name ?? '', namespace);
      if (dv) existing.set(t.metadata?.name ?? '', dv);
    }
    const decision = reconcileVirtualMachine(vm, existing, rfc3339());
    for (const template of decision.create) {
      const dv = resolveTemplateSourceRef(template, (n, ns) => this.caches.dataSources.get(n, ns));
      this.logger.info({ virtualMachine: k, dataVolume: dv.metadata?.name }, 'creating DataVolume from template');
      try {
        await this.kube.createCustom(cdi('datavolumes'), namespace, dv);
      } catch (err) {
        if (!isConflict(err)) {
          await this.event(vm, 'Warning', 'FailedDataVolumeCreate', `Error creating DataVolume ${dv.metadata?.name}: ${String((err as { body?: unknown }).body ?? err)}`);
          throw err;
        }
      }
    }
    for (const e of decision.events) await this.event(vm, e.type, e.reason, e.message);
    if (isDeepStrictEqual(JSON.parse(JSON.stringify(vm.status ?? {})), JSON.parse(JSON.stringify(decision.status)))) return;
    try {
      await this.kube.replaceStatus(vmRef, namespace, name, { ...vm, status: decision.status });
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) return this.queue.addAfter(k, 100);
      throw err;
    }
  }

  private async event(vm: VirtualMachine, type: string, reason: string, message: string): Promise<void> {
    await recordEvent(this.kube, 'virtualmachine-controller', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: vm.metadata }, type, reason, message).catch((err: unknown) => {
      if (!isNotFound(err)) this.logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err), reason }, 'event not recorded');
    });
  }
}
