import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { makeInformer, type KubernetesObject, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../api/logger.ts';
import { chooseAccelerator, type AcceleratorChoice, type AcceleratorDecision } from '../vm/kvm-probe.ts';
import { rfc3339 } from '../api/time.ts';
import { buildDomain, type ClaimInfo } from '../vm/domain.ts';
import type { VirtualMachineInstance } from '../vm/types.ts';
import { VmiFinalPhases } from '../vm/types.ts';
import { recordEvent } from './events.ts';
import type { Cache, Caches } from './informers.ts';
import { isConflict, isNotFound, type Kube } from './kube.ts';
import { key, splitKey } from './names.ts';
import { launcherGoneStatus, launcherPod, LauncherLabels, refusedVmiStatus, vmiStatusFromPod } from './vmi.ts';
import { runWorkers, WorkQueue } from './workqueue.ts';

/**
 * The local VM runtime's controller (virt-controller's VMI part and virt-handler's status
 * reporting): one virt-launcher pod per VirtualMachineInstance, run by the local node agent,
 * and the VMI's phase and conditions from that pod. Embedded mode only.
 */
export const vmiRef = { group: 'kubevirt.io', version: 'v1', plural: 'virtualmachineinstances' };
export type { AcceleratorChoice };
export type VmiObject = VirtualMachineInstance & KubernetesObject;

export class VmiController {
  readonly queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 30_000 });
  readonly vmis: Cache<VmiObject>;
  private running: Promise<void> | undefined;
  private readonly kube: Kube;
  private readonly caches: Caches;
  private readonly logger: Logger;
  /** Decided once, on the first VMI: a probe runs a test guest, which cdi serve's start need not wait for. */
  private readonly accelerator: () => Promise<AcceleratorDecision>;
  /** Pods created but not yet in the cache, by VMI uid: a second reconcile must not make another. */
  private readonly created = new Map<string, V1Pod>();

  constructor(kube: Kube, caches: Caches, logger: Logger, choice: AcceleratorChoice) {
    this.kube = kube;
    this.caches = caches;
    this.logger = logger;
    let decided: Promise<AcceleratorDecision> | undefined;
    this.accelerator = () => {
      decided ??= chooseAccelerator(choice).then((d) => {
        logger.info({ accelerator: d.accelerator, reason: d.reason }, d.accelerator === 'kvm' ? 'VMs run under KVM' : 'VMs run under software emulation (TCG)');
        return d;
      });
      return decided;
    };
    this.vmis = makeInformer<VmiObject>(kube.kubeConfig, '/apis/kubevirt.io/v1/virtualmachineinstances', () => kube.listCustom<VmiObject>(vmiRef));
  }

  start(): void {
    for (const verb of ['add', 'update'] as const) this.vmis.on(verb, (vmi) => this.queue.add(key(vmi.metadata?.namespace, vmi.metadata?.name)));
    const fromPod = (pod: V1Pod) => {
      if (pod.metadata?.labels?.[LauncherLabels.app] !== 'virt-launcher') return;
      const owner = pod.metadata.ownerReferences?.find((r) => r.kind === 'VirtualMachineInstance' && r.controller);
      if (owner) this.queue.add(key(pod.metadata.namespace, owner.name));
    };
    for (const verb of ['add', 'update', 'delete'] as const) this.caches.pods.on(verb, fromPod);
    this.running = runWorkers(this.queue, 2, async (k) => {
      try {
        await this.reconcile(k);
        this.queue.forget(k);
      } catch (err) {
        this.logger.warn({ virtualMachineInstance: k, err: String(err) }, 'VMI reconcile failed');
        this.queue.addRateLimited(k);
      }
    });
  }

  async stop(): Promise<void> {
    this.queue.shutdown();
    await this.running;
  }

  private launcherOf(vmi: VmiObject): V1Pod | undefined {
    const uid = vmi.metadata?.uid ?? '';
    const cached = this.caches.pods.list(vmi.metadata?.namespace).find((p) => p.metadata?.labels?.[LauncherLabels.createdBy] === uid && p.metadata?.labels?.[LauncherLabels.app] === 'virt-launcher');
    if (cached) this.created.delete(uid);
    return cached ?? this.created.get(uid);
  }

  private async reconcile(k: string): Promise<void> {
    const { namespace, name } = splitKey(k);
    const vmi = this.vmis.get(name, namespace);
    if (!vmi || vmi.metadata?.deletionTimestamp) return;
    const accel = await this.accelerator();
    const now = rfc3339();
    let pod = this.launcherOf(vmi);
    let status: VirtualMachineInstance['status'];
    const phase = vmi.status?.phase ?? 'Pending';
    if (!pod && phase !== 'Pending' && !VmiFinalPhases.has(phase)) {
      // Not in the cache may only mean the pod informer has not listed yet: ask the API.
      const listed = await this.kube.core.listNamespacedPod({ namespace, labelSelector: `${LauncherLabels.createdBy}=${vmi.metadata?.uid ?? ''}` });
      pod = listed.items[0];
      // Otherwise its launcher pod was deleted under it: the guest is gone, as virt-controller says.
      status = pod ? vmiStatusFromPod(vmi, pod, accel, now) : launcherGoneStatus(vmi, now);
    } else if (!pod && phase === 'Pending') {
      const claims = new Map<string, ClaimInfo>();
      for (const v of vmi.spec?.volumes ?? []) {
        const claimName = v.dataVolume?.name ?? v.persistentVolumeClaim?.claimName;
        const claim = claimName ? this.caches.claims.get(claimName, namespace) : undefined;
        if (claimName && claim) claims.set(claimName, { block: claim.spec?.volumeMode === 'Block' });
      }
      const built = buildDomain(name, vmi.spec ?? {}, claims, accel.accelerator);
      if (!built.ok) {
        status = refusedVmiStatus(vmi, built.problems, now);
        if (vmi.status?.conditions?.find((c) => c.type === 'Synchronized')?.message !== built.problems.join('; ')) {
          await this.event(vmi, 'Warning', 'FailedCreate', `Error creating pod: ${built.problems.join('; ')}`);
        }
      } else {
        const manifest = launcherPod(vmi, built.domain, built.volumes, randomBytes(4).toString('hex').slice(0, 5), built.imagePullSecrets);
        this.logger.info({ virtualMachineInstance: k, pod: manifest.metadata?.name, accelerator: accel.accelerator }, 'creating virt-launcher pod');
        pod = await this.kube.core.createNamespacedPod({ namespace, body: manifest });
        this.created.set(vmi.metadata?.uid ?? '', pod);
        await this.event(vmi, 'Normal', 'SuccessfulCreate', `Created virtual machine pod ${manifest.metadata?.name}`);
        status = vmiStatusFromPod(vmi, pod, accel, now);
      }
    } else {
      status = vmiStatusFromPod(vmi, pod, accel, now);
    }
    if (isDeepStrictEqual(JSON.parse(JSON.stringify(vmi.status ?? {})), JSON.parse(JSON.stringify(status)))) return;
    if (status?.phase !== vmi.status?.phase && (status?.phase === 'Succeeded' || status?.phase === 'Failed')) {
      const message = status.conditions?.find((c) => c.type === 'Ready')?.message ?? '';
      await this.event(vmi, status.phase === 'Failed' ? 'Warning' : 'Normal', status.phase === 'Failed' ? 'Failed' : 'Stopped', status.phase === 'Failed' ? `The VirtualMachineInstance crashed: ${message}` : 'The VirtualMachineInstance was shut down.');
    }
    try {
      await this.kube.replaceStatus(vmiRef, namespace, name, { ...vmi, status });
    } catch (err) {
      if (isNotFound(err)) return;
      if (isConflict(err)) return this.queue.addAfter(k, 100);
      throw err;
    }
  }

  private async event(vmi: VmiObject, type: string, reason: string, message: string): Promise<void> {
    await recordEvent(this.kube, 'virtualmachineinstance-controller', { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', metadata: vmi.metadata }, type, reason, message).catch(() => {});
  }
}
