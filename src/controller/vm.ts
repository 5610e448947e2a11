import { Ann, Label } from '../api/annotations.ts';
import { VmReason } from '../api/conditions.ts';
import { ApiVersion, type DataVolume, type DataVolumeSpec } from '../api/datavolume.ts';
import type { ObjectMeta } from '../api/core-schemas.ts';
import type { DataSource } from '../api/datasource.ts';
import { isSucceededOrPendingPopulation, Phase } from '../api/phases.ts';
import type { VirtualMachineInstanceSpec } from '../vm/types.ts';
import { resolveDataSourceChain } from './datasource-chain.ts';

/**
 * KubeVirt's VirtualMachine as far as DataVolumes go (kubevirt.io/v1), and virt-controller's
 * `handleDataVolumes` decisions, pure: which DataVolumes to create from `dataVolumeTemplates`
 * and what the VM's status says about its volumes.
 */
export interface DataVolumeTemplate {
  metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: DataVolumeSpec;
}

export interface VirtualMachine {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
  spec?: {
    running?: boolean;
    runStrategy?: string;
    dataVolumeTemplates?: DataVolumeTemplate[];
    template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec?: VirtualMachineInstanceSpec & { priorityClassName?: string } };
  };
  status?: VirtualMachineStatus;
}

export interface VirtualMachineStatus {
  printableStatus?: string;
  ready?: boolean;
  created?: boolean;
  conditions?: Array<{ type: string; status: 'True' | 'False' | 'Unknown'; reason?: string; message?: string; lastTransitionTime?: string; lastProbeTime?: string | null }>;
  [key: string]: unknown;
}

/** virt-controller's `CreateDataVolumeManifest`. */
export function dataVolumeFromTemplate(vm: VirtualMachine, template: DataVolumeTemplate): DataVolume {
  const spec: DataVolumeSpec = structuredClone(template.spec ?? {});
  const priorityClass = vm.spec?.template?.spec?.priorityClassName;
  if (!spec.priorityClassName && priorityClass) spec.priorityClassName = priorityClass;
  return {
    apiVersion: ApiVersion,
    kind: 'DataVolume',
    metadata: {
      name: template.metadata?.name ?? '',
      namespace: vm.metadata?.namespace ?? 'default',
      labels: { ...(template.metadata?.labels ?? {}), [Label.kubevirtCreatedBy]: vm.metadata?.uid ?? '' },
      annotations: { ...(template.metadata?.annotations ?? {}), [Ann.allowClaimAdoption]: 'true' },
      ownerReferences: [
        { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: vm.metadata?.name ?? '', uid: vm.metadata?.uid ?? '', controller: true, blockOwnerDeletion: true },
      ],
    },
    spec,
  };
}

export interface VmDecision {
  create: DataVolume[];
  status: VirtualMachineStatus;
  events: Array<{ type: 'Normal' | 'Warning'; reason: string; message: string }>;
}

/** What to create, and the VM status: printableStatus and a DataVolumesReady condition. */
export function reconcileVirtualMachine(vm: VirtualMachine, existing: ReadonlyMap<string, DataVolume>, now: string): VmDecision {
  const create: DataVolume[] = [];
  const events: VmDecision['events'] = [];
  const eager = vm.metadata?.annotations?.['kubevirt.io/immediate-data-volume-creation'] !== 'false';
  const notReady: string[] = [];
  const failed: string[] = [];
  for (const template of vm.spec?.dataVolumeTemplates ?? []) {
    const name = template.metadata?.name ?? '';
    const dv = existing.get(name);
    if (!dv) {
      if (eager) {
        create.push(dataVolumeFromTemplate(vm, template));
        events.push({ type: 'Normal', reason: 'SuccessfulDataVolumeCreate', message: `Created DataVolume ${name}` });
      }
      notReady.push(name);
      continue;
    }
    const phase = dv.status?.phase;
    if (phase === Phase.Failed) {
      failed.push(name);
      if (vm.status?.printableStatus !== 'DataVolumeError') {
        events.push({ type: 'Warning', reason: 'FailedDataVolumeImport', message: `DataVolume ${name} failed to import disk image` });
      }
    } else if (!isSucceededOrPendingPopulation(phase) && phase !== Phase.WaitForFirstConsumer) {
      notReady.push(name);
    }
  }
  const ready = failed.length === 0 && notReady.length === 0;
  const printableStatus = failed.length ? 'DataVolumeError' : notReady.length ? 'Provisioning' : 'Stopped';
  const message = failed.length
    ? `DataVolume ${failed.join(', ')} failed`
    : notReady.length
      ? `Waiting on DataVolumes to be ready: ${notReady.join(', ')}`
      : 'All of the VMI\'s DVs are bound and not running';
  const before = vm.status?.conditions?.find((c) => c.type === 'DataVolumesReady');
  const status = ready ? 'True' : 'False';
  const condition = {
    type: 'DataVolumesReady',
    status: status as 'True' | 'False',
    reason: ready ? VmReason.AllDVsReady : VmReason.NotAllDVsReady,
    message,
    lastProbeTime: null,
    lastTransitionTime: before && before.status === status ? (before.lastTransitionTime ?? now) : now,
  };
  const others = (vm.status?.conditions ?? []).filter((c) => c.type !== 'DataVolumesReady');
  return {
    create,
    events,
    status: { ...(vm.status ?? {}), printableStatus, ready: false, created: false, conditions: [...others, condition] },
  };
}

/**
 * KubeVirt turns a template's `sourceRef` to a DataSource into the DataVolume's clone source when
 * it creates the DV: the PVC the DataSource (after its chain) points at at that moment, so the VM
 * keeps the image it was created from when the DataSource later moves on. A DataSource that does
 * not resolve to a PVC leaves `sourceRef` for the DataVolume controller to report on.
 */
export function resolveTemplateSourceRef(dv: DataVolume, getDataSource: (name: string, namespace: string) => DataSource | undefined): DataVolume {
  const ref = dv.spec?.sourceRef;
  if (!ref || ref.kind !== 'DataSource' || !dv.spec) return dv;
  const ns = ref.namespace || dv.metadata?.namespace || 'default';
  const found = getDataSource(ref.name, ns);
  const chain = found ? resolveDataSourceChain(found, getDataSource) : undefined;
  const pvc = chain && 'resolved' in chain ? chain.resolved.spec?.source?.pvc : undefined;
  if (!pvc || !chain || !('resolved' in chain)) return dv;
  const { sourceRef: _resolved, ...spec } = dv.spec;
  return { ...dv, spec: { ...spec, source: { pvc: { namespace: pvc.namespace || chain.resolved.metadata?.namespace || ns, name: pvc.name } } } };
}
