import type { V1Container, V1Pod, V1Volume } from '@kubernetes/client-node';
import { LauncherEnv } from '../api/env.ts';
import { KvmResource, LauncherImage } from '../api/images.ts';
import { ConsoleLogPath, PrivateDir, type Domain, type PodVolume } from '../vm/domain.ts';
import { imagePullReasons } from '../vm/run-strategy.ts';
import type { Condition, VirtualMachineInstance, VmiPhase } from '../vm/types.ts';

/**
 * The VMI side of KubeVirt's virt-controller and virt-handler, pure: the virt-launcher pod a
 * VMI runs in, and the VMI status that pod's state makes (KubeVirt's phases and conditions).
 */
export const LauncherLabels = { app: 'kubevirt.io', vmName: 'vm.kubevirt.io/name', createdBy: 'kubevirt.io/created-by' } as const;
export const LauncherImageRef = `${LauncherImage.repository}:latest`;
/** KubeVirt's launcher runs as the qemu user 107 (non-root VMs, KubeVirt's default). */
const qemuUser = 107;

export function launcherPod(vmi: VirtualMachineInstance, domain: Domain, volumes: PodVolume[], suffix: string, imagePullSecrets: string[] = []): V1Pod {
  const name = vmi.metadata?.name ?? '';
  const privateMount = { name: 'private', mountPath: PrivateDir };
  const podVolumes: V1Volume[] = [{ name: 'private', emptyDir: {} }];
  const mounts: NonNullable<V1Container['volumeMounts']> = [privateMount];
  const devices: NonNullable<V1Container['volumeDevices']> = [];
  for (const v of volumes) {
    const s = v.source;
    if ('claimName' in s) podVolumes.push({ name: v.name, persistentVolumeClaim: { claimName: s.claimName, ...(s.readOnly ? { readOnly: true } : {}) } });
    else if ('secretName' in s) podVolumes.push({ name: v.name, secret: { secretName: s.secretName } });
    else if ('image' in s) podVolumes.push({ name: v.name, image: { reference: s.image, ...(s.pullPolicy ? { pullPolicy: s.pullPolicy } : {}) } });
    else podVolumes.push({ name: v.name, emptyDir: {} });
    if (v.block) devices.push({ name: v.name, devicePath: v.podPath });
    else mounts.push({ name: v.name, mountPath: v.podPath, ...(v.subPath ? { subPath: v.subPath } : {}), ...('image' in s ? { readOnly: true } : {}) });
  }
  const memoryMi = `${Math.ceil(domain.memoryBytes / 2 ** 20)}Mi`;
  const ports = (domain.network?.ports ?? []).map((p) => ({ containerPort: p.port, protocol: p.protocol }));
  const compute: V1Container = {
    name: 'compute',
    image: LauncherImageRef,
    env: [
      { name: LauncherEnv.domain, value: JSON.stringify(domain) },
      { name: LauncherEnv.consoleLog, value: ConsoleLogPath },
    ],
    volumeMounts: mounts,
    ...(devices.length ? { volumeDevices: devices } : {}),
    ...(ports.length ? { ports } : {}),
    resources: {
      requests: { memory: memoryMi, cpu: String(domain.cores) },
      ...(domain.accelerator === 'kvm' ? { limits: { [KvmResource]: '1' } } : {}),
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
  const consoleLog: V1Container = {
    name: 'guest-console-log',
    image: LauncherImageRef,
    env: [{ name: LauncherEnv.consoleLog, value: ConsoleLogPath }],
    volumeMounts: [privateMount],
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `virt-launcher-${name}-${suffix}`.slice(0, 253),
      namespace: vmi.metadata?.namespace ?? 'default',
      labels: { [LauncherLabels.app]: 'virt-launcher', [LauncherLabels.vmName]: name, [LauncherLabels.createdBy]: vmi.metadata?.uid ?? '' },
      annotations: { 'kubevirt.io/domain': name },
      ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachineInstance', name, uid: vmi.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true }],
    },
    spec: {
      restartPolicy: 'Never',
      securityContext: { runAsUser: qemuUser, runAsGroup: qemuUser, fsGroup: qemuUser, runAsNonRoot: true },
      terminationGracePeriodSeconds: 30,
      containers: [compute, consoleLog],
      volumes: podVolumes,
      ...(imagePullSecrets.length ? { imagePullSecrets: imagePullSecrets.map((name) => ({ name })) } : {}),
    },
  };
}

/** The VMI's phase and conditions from its launcher pod (KubeVirt's virt-controller and virt-handler together). */
export function vmiStatusFromPod(vmi: VirtualMachineInstance, pod: V1Pod | undefined, accel: { accelerator: Domain['accelerator']; reason?: string } | undefined, now: string): VirtualMachineInstance['status'] {
  const before = vmi.status ?? {};
  let phase: VmiPhase = before.phase ?? 'Pending';
  const conditions: Condition[] = [];
  const compute = pod?.status?.containerStatuses?.find((c) => c.name === 'compute');
  if (pod) {
    const podPhase = pod.status?.phase;
    if (podPhase === 'Succeeded') phase = 'Succeeded';
    else if (podPhase === 'Failed') phase = 'Failed';
    else if (podPhase === 'Running' && compute?.state?.running) phase = 'Running';
    else if (pod.spec?.nodeName) phase = 'Scheduled';
    else phase = 'Scheduling';
    const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') conditions.push(condition(before.conditions, 'PodScheduled', 'False', now, scheduled.reason ?? 'Unschedulable', scheduled.message ?? ''));
    // A containerDisk the node cannot pull: KubeVirt reports the container's waiting reason and message.
    const pulling = pod.status?.containerStatuses?.find((c) => imagePullReasons.has(c.state?.waiting?.reason ?? ''))?.state?.waiting;
    if (pulling && podPhase === 'Pending') conditions.push(condition(before.conditions, 'Synchronized', 'False', now, pulling.reason, pulling.message ?? ''));
  }
  if (phase === 'Running') {
    conditions.push(condition(before.conditions, 'Ready', 'True', now));
  } else if (phase === 'Succeeded' || phase === 'Failed') {
    const terminated = compute?.state?.terminated;
    const message = terminated?.message?.trim() || (phase === 'Succeeded' ? 'guest powered off' : `virt-launcher exited with status ${terminated?.exitCode ?? 'unknown'}`);
    conditions.push(condition(before.conditions, 'Ready', 'False', now, 'GuestNotRunning', message));
  } else {
    conditions.push(condition(before.conditions, 'Ready', 'False', now, pod ? 'GuestNotRunning' : 'PodNotExists', pod ? 'the guest is not running yet' : 'virt-launcher pod has not yet been created'));
  }
  if (accel?.accelerator === 'tcg') {
    conditions.push(condition(before.conditions, 'SoftwareEmulation', 'True', now, 'KVMUnavailable', `VM running with software emulation (QEMU TCG): KVM is not used: ${accel.reason ?? 'not usable on this host'}`));
  }
  const transitions = [...(before.phaseTransitionTimestamps ?? [])];
  if (!transitions.some((t) => t.phase === phase)) transitions.push({ phase, phaseTransitionTimestamp: now });
  const status: NonNullable<VirtualMachineInstance['status']> = { ...before, phase, conditions, phaseTransitionTimestamps: transitions };
  if (pod?.metadata?.uid && pod.spec?.nodeName) {
    status.nodeName = pod.spec.nodeName;
    if (phase !== 'Succeeded' && phase !== 'Failed') status.activePods = { [pod.metadata.uid]: pod.spec.nodeName };
    else delete status.activePods;
  }
  return status;
}

/** A started VMI whose launcher pod is gone (deleted by hand, or lost) has Failed. */
export function launcherGoneStatus(vmi: VirtualMachineInstance, now: string): VirtualMachineInstance['status'] {
  const before = vmi.status ?? {};
  const { activePods: _gone, ...rest } = before;
  return {
    ...rest,
    phase: 'Failed',
    conditions: [condition(before.conditions, 'Ready', 'False', now, 'PodNotExists', 'virt-launcher pod does not exist: the guest is gone')],
    phaseTransitionTimestamps: [...(before.phaseTransitionTimestamps ?? []), { phase: 'Failed', phaseTransitionTimestamp: now }],
  };
}

/** A VMI the runtime refuses stays Pending; Synchronized=False names every reason. */
export function refusedVmiStatus(vmi: VirtualMachineInstance, problems: string[], now: string): VirtualMachineInstance['status'] {
  const before = vmi.status ?? {};
  return {
    ...before,
    phase: 'Pending',
    conditions: [
      condition(before.conditions, 'Ready', 'False', now, 'PodNotExists', 'virt-launcher pod has not yet been created'),
      condition(before.conditions, 'Synchronized', 'False', now, 'FailedCreate', problems.join('; ')),
    ],
    phaseTransitionTimestamps: before.phaseTransitionTimestamps ?? [{ phase: 'Pending', phaseTransitionTimestamp: now }],
  };
}

export function condition(before: Condition[] | undefined, type: string, status: Condition['status'], now: string, reason?: string, message?: string): Condition {
  const prev = before?.find((c) => c.type === type);
  return {
    type,
    status,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
    lastProbeTime: null,
    lastTransitionTime: prev && prev.status === status ? (prev.lastTransitionTime ?? now) : now,
  };
}
