import { isDeepStrictEqual } from 'node:util';
import { makeInformer, type KubernetesObject } from '@kubernetes/client-node';
import type { DataVolume } from '../api/datavolume.ts';
import type { Logger } from '../api/logger.ts';
import { cdi, type Cache, type Caches } from './informers.ts';
import { recordEvent } from './events.ts';
import { isConflict, isNotFound, type Kube } from './kube.ts';
import { key, splitKey } from './names.ts';
import { reconcileVirtualMachine, resolveTemplateSourceRef, type VirtualMachine, type VirtualMachineStatus } from './vm.ts';
import { runWorkers, WorkQueue } from './workqueue.ts';
import { rfc3339 } from '../api/time.ts';
import type { VirtualMachineInstance } from '../vm/types.ts';
import { VmiFinalPhases } from '../vm/types.ts';
import { decideRun, imagePullReasons, printableStatus, runStrategyOf, type StateChangeRequest } from '../vm/run-strategy.ts';
import { vmiRef, type VmiObject } from './vmi-controller.ts';
import { condition } from './vmi.ts';

/**
 * Embedded stand-in for KubeVirt's virt-controller: creates the DataVolumes of
 * `spec.dataVolumeTemplates` (owned by the VM, so deleting the VM cascades) and reports in the
 * VM's status whether they are ready. It only runs where no KubeVirt install owns VMs. With the
 * local VM runtime (`cdi serve`) it also runs the VM: a VirtualMachineInstance per run as the
 * run strategy and the start/stop/restart requests say, and the VM's printableStatus and ready.
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

  private readonly vmis: Cache<VmiObject> | undefined;

  constructor(kube: Kube, caches: Caches, logger: Logger, vmis?: Cache<VmiObject>) {
    this.kube = kube;
    this.caches = caches;
    this.logger = logger;
    this.vmis = vmis;
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
    const fromVmi = (vmi: VmiObject) => {
      const owner = vmi.metadata?.ownerReferences?.find((r) => r.kind === 'VirtualMachine' && r.controller);
      if (owner) this.queue.add(key(vmi.metadata?.namespace, owner.name));
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.vmis?.on(verb, fromVmi);
    const fromClaim = (claim: { metadata?: { namespace?: string; name?: string } }) => {
      for (const vm of this.vms.list(claim.metadata?.namespace)) {
        if (vm.spec?.template?.spec?.volumes?.some((v) => v.persistentVolumeClaim?.claimName === claim.metadata?.name)) this.queue.add(key(vm.metadata?.namespace, vm.metadata?.name));
      }
    };
    if (this.vmis) for (const verb of ['add', 'update', 'delete'] as const) this.caches.claims.on(verb, fromClaim);
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
    if (this.vmis) decision.status = await this.run(vm, decision.status);
    if (isDeepStrictEqual(JSON.parse(JSON.stringify(vm.status ?? {})), JSON.parse(JSON.stringify(decision.status)))) return;
    try {
      await this.kube.replaceStatus(vmRef, namespace, name, { ...vm, status: decision.status });
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) return this.queue.addAfter(k, 100);
      throw err;
    }
  }

  /** The run part: create or delete the VMI, consume state change requests, and the VM's status. */
  private async run(vm: VirtualMachine & KubernetesObject, status: VirtualMachineStatus): Promise<VirtualMachineStatus> {
    const namespace = vm.metadata?.namespace ?? 'default';
    const name = vm.metadata?.name ?? '';
    const now = rfc3339();
    const vmi = this.vmis?.get(name, namespace);
    const strategy = runStrategyOf(vm.spec);
    const others = (status.conditions ?? []).filter((c) => c.type !== 'Failure' && c.type !== 'Ready');
    if (typeof strategy !== 'string') {
      return { ...status, printableStatus: 'Unknown', ready: false, created: vmi !== undefined, conditions: [...others, condition(status.conditions, 'Failure', 'True', now, 'InvalidRunStrategy', strategy.invalid)] };
    }
    const volumes = this.volumeStates(vm);
    const requests = ((vm.status?.stateChangeRequests as StateChangeRequest[] | undefined) ?? []).filter((r) => r && (r.action === 'Start' || r.action === 'Stop'));
    const failure = vm.status?.startFailure as { consecutiveFailCount: number; lastFailedVMIUID?: string; retryAfterTimestamp?: string } | undefined;
    let startFailure = failure;
    if (vmi?.status?.phase === 'Failed' && failure?.lastFailedVMIUID !== vmi.metadata?.uid && (strategy === 'Always' || strategy === 'RerunOnFailure')) {
      const count = (failure?.consecutiveFailCount ?? 0) + 1;
      const delayMs = Math.min(300_000, 10_000 * 2 ** (count - 1));
      startFailure = { consecutiveFailCount: count, lastFailedVMIUID: vmi.metadata?.uid ?? '', retryAfterTimestamp: rfc3339(new Date(Date.now() + delayMs)) };
    } else if (vmi?.status?.phase === 'Succeeded') {
      startFailure = undefined;
    }
    const retryAt = startFailure?.retryAfterTimestamp ? Date.parse(startFailure.retryAfterTimestamp) : 0;
    const backingOff = retryAt > Date.now();
    if (backingOff) this.queue.addAfter(key(namespace, name), retryAt - Date.now() + 50);
    const decided = decideRun({ strategy, vmi, requests, volumesReady: volumes.ready, backingOff });
    // A new failure is recorded before its VMI goes: deleted first, a lost status write would forget the back-off.
    const newFailure = startFailure !== failure && startFailure !== undefined;
    const decision = newFailure ? { create: false, delete: false, consumed: 0 } : decided;
    if (newFailure) this.queue.addAfter(key(namespace, name), 200);
    let current: VirtualMachineInstance | undefined = vmi;
    if (decision.delete && vmi) {
      this.logger.info({ virtualMachine: `${namespace}/${name}`, strategy }, 'deleting VirtualMachineInstance');
      // By uid: a cache that lags our own writes must never delete the next run's VMI of the same name.
      const uid = vmi.metadata?.uid;
      await this.kube.custom.deleteNamespacedCustomObject({ ...vmiRef, namespace, name, propagationPolicy: 'Background', ...(uid ? { body: { preconditions: { uid } } } : {}) }).catch((err: unknown) => {
        if (!isNotFound(err) && !isConflict(err)) throw err;
      });
      await this.event(vm, 'Normal', 'SuccessfulDelete', `Stopped the virtual machine by deleting the virtual machine instance ${vmi.metadata?.uid}`);
      current = { ...vmi, metadata: { ...vmi.metadata, deletionTimestamp: now } };
    }
    if (decision.create) {
      const manifest = vmiFromTemplate(vm);
      this.logger.info({ virtualMachine: `${namespace}/${name}`, strategy }, 'creating VirtualMachineInstance');
      try {
        current = await this.kube.createCustom<VirtualMachineInstance>(vmiRef, namespace, manifest);
        await this.event(vm, 'Normal', 'SuccessfulCreate', `Started the virtual machine by creating the new virtual machine instance ${name}`);
      } catch (err) {
        if (!isConflict(err)) {
          await this.event(vm, 'Warning', 'FailedCreate', `Error creating virtual machine instance: ${String((err as { body?: unknown }).body ?? err)}`);
          throw err;
        }
      }
    }
    const remaining = requests.slice(decision.consumed);
    const refused = current?.status?.conditions?.find((c) => c.type === 'Synchronized' && c.status === 'False');
    const running = current?.status?.phase === 'Running';
    const ready = running && current?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    const conditions = [...others, condition(status.conditions, 'Ready', ready ? 'True' : 'False', now, ready ? undefined : running ? 'GuestNotReady' : 'VMINotExists', ready ? undefined : running ? 'the guest is not ready' : 'VMI does not exist')];
    if (refused) conditions.push(condition(status.conditions, 'Failure', 'True', now, refused.reason ?? 'FailedCreate', refused.message ?? ''));
    const out: VirtualMachineStatus = {
      ...status,
      printableStatus: printableStatus({
        deleting: vm.metadata?.deletionTimestamp !== undefined,
        strategy,
        vmi: current,
        requests: remaining,
        dataVolumeError: volumes.failed,
        claimMissing: volumes.missing,
        provisioning: volumes.provisioning,
        unschedulable: refused !== undefined && !imagePullReasons.has(refused.reason ?? ''),
        imagePull: imagePullReasons.has(refused?.reason ?? '') ? refused?.reason : undefined,
        crashLooping: backingOff && (!current || VmiFinalPhases.has(current.status?.phase ?? '')),
      }),
      ready,
      created: current !== undefined && current.metadata?.deletionTimestamp === undefined,
      conditions,
    };
    if (remaining.length) out.stateChangeRequests = remaining;
    else delete out.stateChangeRequests;
    if (startFailure) out.startFailure = startFailure;
    else delete out.startFailure;
    out.runStrategy = strategy;
    return out;
  }

  /** Whether the template's volumes exist and are ready: KubeVirt starts a VMI only then. */
  private volumeStates(vm: VirtualMachine): { ready: boolean; failed: boolean; missing: boolean; provisioning: boolean } {
    const namespace = vm.metadata?.namespace ?? 'default';
    const templates = new Set((vm.spec?.dataVolumeTemplates ?? []).map((t) => t.metadata?.name));
    let failed = false;
    let missing = false;
    let provisioning = false;
    for (const v of vm.spec?.template?.spec?.volumes ?? []) {
      if (v.dataVolume) {
        const dv = this.caches.dataVolumes.get(v.dataVolume.name, namespace);
        const phase = dv?.status?.phase;
        if (!dv) {
          if (templates.has(v.dataVolume.name)) provisioning = true;
          else missing = true;
        } else if (phase === 'Failed') failed = true;
        else if (phase !== 'Succeeded') provisioning = true;
      } else if (v.persistentVolumeClaim) {
        const claim = this.caches.claims.get(v.persistentVolumeClaim.claimName, namespace);
        if (!claim) missing = true;
        else if (claim.status?.phase !== 'Bound') provisioning = true;
      }
    }
    return { ready: !failed && !missing && !provisioning, failed, missing, provisioning };
  }

  private async event(vm: VirtualMachine, type: string, reason: string, message: string): Promise<void> {
    await recordEvent(this.kube, 'virtualmachine-controller', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: vm.metadata }, type, reason, message).catch((err: unknown) => {
      if (!isNotFound(err)) this.logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(err), reason }, 'event not recorded');
    });
  }
}

/** virt-controller's setupVMIFromVM: the template as a VMI named after the VM, owned by it. */
export function vmiFromTemplate(vm: VirtualMachine): VirtualMachineInstance {
  const template = vm.spec?.template ?? {};
  const { priorityClassName: _priority, ...spec } = template.spec ?? {};
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: {
      name: vm.metadata?.name ?? '',
      namespace: vm.metadata?.namespace ?? 'default',
      labels: { ...(template.metadata?.labels ?? {}), 'vm.kubevirt.io/name': vm.metadata?.name ?? '' },
      ...(template.metadata?.annotations ? { annotations: { ...template.metadata.annotations } } : {}),
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: vm.metadata?.name ?? '', uid: vm.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec,
  };
}
