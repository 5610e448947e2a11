import type { V1PersistentVolumeClaim, V1Pod, V1Service, V1StorageClass } from '@kubernetes/client-node';
import { Ann } from '../api/annotations.ts';
import { workerRetryBudgetOf, type CdiConfig } from '../api/cdiconfig.ts';
import { Reason, rewriteSpaceError } from '../api/conditions.ts';
import { sourceKindOf, type DataVolume, type DataVolumeStatus } from '../api/datavolume.ts';
import type { DataSource } from '../api/datasource.ts';
import { Phase, Progress, type DataVolumePhase } from '../api/phases.ts';
import { parseQuantity } from '../api/quantity.ts';
import type { StorageProfile } from '../api/storageprofile.ts';
import { renderClaim } from './claim.ts';
import { clonerPodName, cloneClientName, uploadSecretName, uploadServiceName } from './names.ts';
import { clonerPod, importerPod, uploadServerPod, uploadService, type WorkerImageMap } from './pods.ts';
import { boundCondition, mergeConditions, phaseEvent, readyCondition, type RunningFeed } from './status.ts';
import { workerStatus, type WorkerStatus } from './worker-status.ts';

/**
 * The DataVolume reconciler's decisions, pure: from the DataVolume and what the caches hold, the
 * objects to create or delete and the status to write. The runtime executes the actions.
 */
export type Action =
  | { kind: 'createClaim'; claim: V1PersistentVolumeClaim }
  | { kind: 'createPod'; pod: V1Pod }
  | { kind: 'deletePod'; namespace: string; name: string }
  | { kind: 'createService'; service: V1Service }
  | { kind: 'serverCert'; namespace: string; secret: string; service: string; owner: V1PersistentVolumeClaim }
  | { kind: 'clientCert'; namespace: string; secret: string; commonName: string }
  | { kind: 'deleteSecret'; namespace: string; name: string }
  | { kind: 'annotateClaim'; namespace: string; name: string; annotations: Record<string, string> }
  | { kind: 'labelClaim'; namespace: string; name: string; labels: Record<string, string> }
  | { kind: 'event'; type: 'Normal' | 'Warning'; reason: string; message: string };

export interface Observed {
  pvc?: V1PersistentVolumeClaim;
  /** The importer or upload-server pod of the claim. */
  pod?: V1Pod;
  service?: V1Service;
  secretExists: boolean;
  storageClasses: readonly V1StorageClass[];
  profiles: ReadonlyMap<string, StorageProfile>;
  config?: CdiConfig;
  /** Clone: the source claim (null when looked up and missing). */
  sourcePvc?: V1PersistentVolumeClaim | null;
  clonerPod?: V1Pod;
  cloneSecretExists?: boolean;
  /** sourceRef: the DataSource (null when missing). */
  dataSource?: DataSource | null;
  /** Where the clone source reaches the target's upload server (resolved from the pod's port). */
  uploadUrl?: string;
  progress?: { percent?: number; stage?: string; bytes?: number };
  /** Upload: the text of the newest failed upload (the proxy's Warning UploadFailed event). */
  uploadFailure?: string;
  /** Set when the worker limit is reached: no new importer or clone source may start; the reason shown. */
  noWorkerSlot?: string;
}

export interface Options {
  images: WorkerImageMap;
  retryBudget: number;
  now: string;
  /** cdi serve: volumes are files on the node's disk (a full disk is not a too small volume). */
  volumesOnNodeDisk?: boolean;
}

export interface Decision {
  actions: Action[];
  status: DataVolumeStatus;
}

const Unsupported = ['gcs', 'imageio', 'vddk', 'snapshot'] as const;

type Flow = 'import' | 'upload' | 'clone';

interface Step {
  phase: DataVolumePhase;
  running: RunningFeed;
  restarts?: number;
  progress?: string;
  actions: Action[];
}

const notRunning = (reason = '', message = ''): RunningFeed => ({ status: 'False', reason, message });

export function reconcileDataVolume(dv: DataVolume, o: Observed, opts: Options): Decision {
  const prev = dv.status ?? {};
  const claimName = dv.metadata?.name ?? '';
  const step = decide(dv, o, opts);
  const phase = step.phase;
  const actions = [...step.actions];
  // Leaving the worker for a later pass costs a reconcile per DataVolume; finish it now.
  if (phase === Phase.Succeeded && prev.phase !== Phase.Succeeded) {
    const done = cleanupActions(dv, o).filter((a) => !actions.some((b) => b.kind === a.kind && JSON.stringify(b) === JSON.stringify(a)));
    actions.push(...done);
  }
  const flow = flowOf(dv, o);
  if (phase !== (prev.phase ?? '') && flow) {
    const event = phaseEvent(flow, phase, claimName);
    if (event) actions.push({ kind: 'event', ...event });
  }
  // A clone admitted before its source exists waits Pending, said once by a Warning (upstream PR #3331).
  const wasWaiting = prev.conditions?.some((c) => c.type === 'Running' && c.reason === Reason.CloneWithoutSource);
  if (step.running.reason === Reason.CloneWithoutSource && !wasWaiting) actions.push({ kind: 'event', type: 'Warning', reason: Reason.CloneWithoutSource, message: step.running.message });
  const progress =
    phase === Phase.Succeeded ? Progress.done : (step.progress ?? (phase === (prev.phase ?? '') ? prev.progress : undefined) ?? Progress.unknown);
  const status: DataVolumeStatus = {
    ...prev,
    phase,
    progress,
    restartCount: step.restarts ?? prev.restartCount ?? 0,
    ...(o.pvc ? { claimName } : {}),
    conditions: mergeConditions(
      prev.conditions,
      { Ready: readyCondition(phase, step.running), Bound: boundCondition(o.pvc), Running: step.running },
      opts.now,
    ),
  };
  return { actions, status };
}

function flowOf(dv: DataVolume, o: Observed): Flow | undefined {
  const source = dv.spec?.source;
  if (source?.upload) return 'upload';
  if (source?.pvc || (dv.spec?.sourceRef && o.dataSource?.spec?.source?.pvc)) return 'clone';
  if (source?.http || source?.s3 || source?.registry || source?.blank) return 'import';
  return undefined;
}

function decide(dv: DataVolume, o: Observed, opts: Options): Step {
  const prevPhase = (dv.status?.phase ?? '') as DataVolumePhase;
  const prevRunning = dv.status?.conditions?.find((c) => c.type === 'Running');
  const keepRunning: RunningFeed = prevRunning
    ? { status: prevRunning.status, reason: prevRunning.reason ?? '', message: prevRunning.message ?? '' }
    : notRunning();
  const cleanup = cleanupActions(dv, o);
  if (prevPhase === Phase.Failed) return { phase: Phase.Failed, running: keepRunning, actions: cleanup };
  if (prevPhase === Phase.Succeeded) return { phase: Phase.Succeeded, running: keepRunning, actions: cleanup };

  const kind = sourceKindOf(dv.spec ?? {});
  const unsupported = Unsupported.find((k) => k === kind);
  if (unsupported) {
    return {
      phase: Phase.Failed,
      running: notRunning(
        Reason.SourceNotSupported,
        `source ${unsupported} is accepted for compatibility but this CDI implementation cannot import from it; use http, s3, registry, pvc, upload or blank`,
      ),
      actions: [],
    };
  }

  if (dv.spec?.source?.registry?.imageStream) {
    return {
      phase: Phase.Failed,
      running: notRunning(Reason.SourceNotSupported, 'registry imageStream needs OpenShift\'s image registry, which this cluster does not have; use url: docker://… (with pullMethod node to pull with the node\'s credentials)'),
      actions: [],
    };
  }

  let sourceRef: { namespace: string; name: string } | undefined = dv.spec?.source?.pvc;
  if (dv.spec?.sourceRef) {
    const ds = o.dataSource;
    const ns = dv.spec.sourceRef.namespace || dv.metadata?.namespace || 'default';
    if (!ds) return { phase: Phase.Pending, running: notRunning(Reason.CloneWithoutSource, `DataSource ${ns}/${dv.spec.sourceRef.name} not found`), actions: [] };
    const pvc = ds.spec?.source?.pvc;
    if (!pvc) {
      return { phase: Phase.Failed, running: notRunning(Reason.SourceNotSupported, 'only DataSources that point at a PVC can be used here'), actions: [] };
    }
    sourceRef = { namespace: pvc.namespace || ns, name: pvc.name };
  }

  let sourceSize: number | undefined;
  if (sourceRef) {
    if (!o.sourcePvc) {
      return { phase: Phase.Pending, running: notRunning(Reason.CloneWithoutSource, `The source pvc ${sourceRef.name} doesn't exist`), actions: [] };
    }
    sourceSize = parseQuantity(o.sourcePvc.spec?.resources?.requests?.storage);
  }

  if (!o.pvc) {
    const rendered = renderClaim({ dv, storageClasses: o.storageClasses, profiles: o.profiles, config: o.config, ...(sourceSize !== undefined ? { sourceSize } : {}) });
    if (!rendered.ok) return { phase: Phase.Pending, running: notRunning(rendered.reason, rendered.message), actions: [] };
    return { phase: Phase.Pending, running: notRunning(), actions: [{ kind: 'createClaim', claim: rendered.claim }] };
  }

  const pvc = o.pvc;
  const owner = pvc.metadata?.ownerReferences?.find((r) => r.controller);
  const populated = pvc.metadata?.annotations?.[Ann.populatedFor] === dv.metadata?.name || pvc.metadata?.annotations?.[Ann.prePopulated] === dv.metadata?.name;
  if (populated) return { phase: Phase.Succeeded, running: notRunning(Reason.Completed, ''), actions: [] };
  if (owner?.uid !== dv.metadata?.uid) {
    const adopt = dv.metadata?.annotations?.[Ann.allowClaimAdoption] === 'true';
    if (adopt) return { phase: Phase.Succeeded, running: notRunning(Reason.Completed, ''), actions: [] };
    return {
      phase: Phase.Pending,
      running: notRunning(Reason.ErrResourceExists, `Resource "${pvc.metadata?.name}" already exists and is not managed by DataVolume`),
      actions: [],
    };
  }
  if (pvc.status?.phase === 'Lost') {
    return {
      phase: Phase.Failed,
      running: notRunning(),
      actions: [{ kind: 'event', type: 'Warning', reason: 'ErrClaimLost', message: `PVC ${pvc.metadata?.name} lost` }],
    };
  }
  const bound = pvc.status?.phase === 'Bound';
  const immediate = pvc.metadata?.annotations?.[Ann.immediateBinding] !== undefined;
  const wffc = o.storageClasses.find((c) => c.metadata?.name === pvc.spec?.storageClassName)?.volumeBindingMode === 'WaitForFirstConsumer';
  if (!bound && wffc && !immediate && !pvc.metadata?.annotations?.[Ann.selectedNode]) {
    return { phase: Phase.WaitForFirstConsumer, running: notRunning(), actions: [] };
  }
  // Immediate claims bind on their own; a WaitForFirstConsumer claim binds once the worker consumes it.
  if (!bound && !(wffc && immediate)) return { phase: Phase.Pending, running: notRunning(), actions: [] };

  if (dv.spec?.source?.upload) return uploadStep(pvc, o, opts, undefined);
  if (sourceRef && o.sourcePvc) return cloneStep(dv, pvc, o.sourcePvc, o, opts);
  return importStep(pvc, o, opts);
}

function budgetSpent(ws: WorkerStatus, opts: Options, o: Observed): boolean {
  const budget = workerRetryBudgetOf(o.config, opts.retryBudget);
  return ws.restarts >= budget && ws.lastError !== undefined && ws.phase !== 'Succeeded';
}

function failed(ws: WorkerStatus, pod: V1Pod, reason: string, message: string, volumesOnNodeDisk = false): Step {
  return {
    phase: Phase.Failed,
    running: notRunning(reason, rewriteSpaceError(message, volumesOnNodeDisk)),
    restarts: ws.restarts,
    actions: [{ kind: 'deletePod', namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' }],
  };
}

function withStage(running: RunningFeed, o: Observed): RunningFeed {
  const stage = o.progress?.stage;
  if (running.status !== 'True' || !stage) return running;
  const bytes = o.progress?.bytes;
  const read = bytes === undefined ? '' : `, ${(bytes / 2 ** 20).toFixed(1)} MiB of source read`;
  return { ...running, message: `Processing stage: ${stage}${read}` };
}

function progressOf(o: Observed): string | undefined {
  const p = o.progress?.percent;
  return p === undefined ? undefined : Progress.format(p);
}

function mirror(pvc: V1PersistentVolumeClaim, ws: WorkerStatus | undefined, extra: Record<string, string> = {}): Action[] {
  const want: Record<string, string> = { ...extra };
  if (ws) {
    want[Ann.podPhase] = ws.phase;
    want[Ann.podReady] = String(ws.ready);
    want[Ann.podRestarts] = String(ws.restarts);
  }
  const have = pvc.metadata?.annotations ?? {};
  const changed = Object.fromEntries(Object.entries(want).filter(([k, v]) => have[k] !== v));
  return Object.keys(changed).length
    ? [{ kind: 'annotateClaim', namespace: pvc.metadata?.namespace ?? '', name: pvc.metadata?.name ?? '', annotations: changed }]
    : [];
}

function importStep(pvc: V1PersistentVolumeClaim, o: Observed, opts: Options): Step {
  if (!o.pod) {
    if (pvc.metadata?.annotations?.[Ann.podPhase] === 'Succeeded') return { phase: Phase.Succeeded, running: notRunning(Reason.Completed, 'Import Complete'), actions: [] };
    if (o.noWorkerSlot) return { phase: Phase.ImportScheduled, running: notRunning(Reason.Pending, o.noWorkerSlot), actions: [] };
    const pod = importerPod({ pvc, config: o.config, image: opts.images.importer });
    return { phase: Phase.ImportScheduled, running: notRunning(), actions: [{ kind: 'createPod', pod }] };
  }
  const ws = workerStatus(o.pod, opts.volumesOnNodeDisk);
  const actions = mirror(pvc, ws, { [Ann.importPodName]: o.pod.metadata?.name ?? '' });
  if (ws.fatal) {
    const step = failed(ws, o.pod, Reason.ChecksumError, ws.terminationMessage ?? 'checksum mismatch', opts.volumesOnNodeDisk);
    return { ...step, actions: [...step.actions, ...mirror(pvc, ws, { [Ann.fatalError]: 'true' })] };
  }
  if (ws.phase === 'Succeeded') {
    // CDI's import controller puts the labels the importer reports (image env) on the claim.
    const labels = Object.fromEntries(Object.entries(ws.labels ?? {}).filter(([k, v]) => pvc.metadata?.labels?.[k] !== v));
    if (Object.keys(labels).length) actions.push({ kind: 'labelClaim', namespace: pvc.metadata?.namespace ?? '', name: pvc.metadata?.name ?? '', labels });
    return { phase: Phase.Succeeded, running: ws.running, restarts: ws.restarts, actions };
  }
  if (ws.phase === 'Failed' || budgetSpent(ws, opts, o)) {
    return failed(ws, o.pod, Reason.RetryBudgetExhausted, ws.lastError ?? ws.terminationMessage ?? 'worker failed', opts.volumesOnNodeDisk);
  }
  const phase = ws.phase === 'Running' ? Phase.ImportInProgress : Phase.ImportScheduled;
  return { phase, running: withStage(ws.running, o), restarts: ws.restarts, actions, ...(phase === Phase.ImportInProgress ? { progress: progressOf(o) ?? Progress.unknown } : {}) };
}

function serverSide(pvc: V1PersistentVolumeClaim, o: Observed, opts: Options, clientName: string | undefined): Action[] {
  const ns = pvc.metadata?.namespace ?? '';
  const name = pvc.metadata?.name ?? '';
  const actions: Action[] = [];
  if (!o.secretExists) actions.push({ kind: 'serverCert', namespace: ns, secret: uploadSecretName(name), service: uploadServiceName(name), owner: pvc });
  if (!clientName && !o.service) actions.push({ kind: 'createService', service: uploadService(pvc) });
  if (!o.pod && o.secretExists) {
    actions.push({ kind: 'createPod', pod: uploadServerPod({ pvc, config: o.config, image: opts.images.uploadServer, ...(clientName ? { clientName } : {}) }) });
  }
  return actions;
}

function uploadStep(pvc: V1PersistentVolumeClaim, o: Observed, opts: Options, clientName: string | undefined): Step {
  const actions = serverSide(pvc, o, opts, clientName);
  if (!o.pod) {
    if (pvc.metadata?.annotations?.[Ann.podPhase] === 'Succeeded') return { phase: Phase.Succeeded, running: notRunning(Reason.Completed, 'Upload Complete'), actions: [] };
    return { phase: Phase.UploadScheduled, running: notRunning(), actions: [...actions, ...mirror(pvc, undefined, { [Ann.uploadTarget]: '' })] };
  }
  const ws = workerStatus(o.pod, opts.volumesOnNodeDisk);
  actions.push(...mirror(pvc, ws));
  if (ws.phase === 'Succeeded') return { phase: Phase.Succeeded, running: ws.running, restarts: ws.restarts, actions };
  if (ws.phase === 'Failed' || budgetSpent(ws, opts, o)) return failed(ws, o.pod, Reason.RetryBudgetExhausted, ws.lastError ?? 'upload server failed', opts.volumesOnNodeDisk);
  const phase = ws.phase === 'Running' && ws.ready ? Phase.UploadReady : Phase.UploadScheduled;
  // A ready server after a failed upload waits for the next one: the condition says why the last one failed.
  const running = phase === Phase.UploadReady && o.uploadFailure ? { ...ws.running, message: o.uploadFailure } : ws.running;
  return { phase, running, restarts: ws.restarts, actions };
}

function cloneStep(dv: DataVolume, pvc: V1PersistentVolumeClaim, source: V1PersistentVolumeClaim, o: Observed, opts: Options): Step {
  const srcNs = source.metadata?.namespace ?? '';
  const srcName = source.metadata?.name ?? '';
  const clientName = cloneClientName(srcNs, srcName, pvc.metadata?.namespace ?? '', pvc.metadata?.name ?? '');
  const actions = serverSide(pvc, o, opts, clientName);
  const target = o.pod ? workerStatus(o.pod, opts.volumesOnNodeDisk) : undefined;
  if (!o.pod && pvc.metadata?.annotations?.[Ann.podPhase] === 'Succeeded') {
    return { phase: Phase.Succeeded, running: notRunning(Reason.Completed, 'Clone Complete'), actions: [] };
  }
  if (target) actions.push(...mirror(pvc, target));
  if (target?.phase === 'Succeeded') {
    return { phase: Phase.Succeeded, running: { ...target.running, message: 'Clone Complete' }, restarts: target.restarts, actions };
  }
  if (source.status?.phase !== 'Bound') {
    return { phase: Phase.CloneScheduled, running: notRunning(Reason.Pending, `source PVC ${srcNs}/${srcName} is not bound`), actions };
  }
  if (target && o.pod && (target.phase === 'Failed' || budgetSpent(target, opts, o))) {
    return failed(target, o.pod, Reason.RetryBudgetExhausted, target.lastError ?? 'clone target failed');
  }
  if (!target || !target.ready || !o.uploadUrl) return { phase: Phase.CloneScheduled, running: target?.running ?? notRunning(), actions };

  const podName = clonerPodName(pvc.metadata?.uid ?? '');
  if (!o.cloneSecretExists) actions.push({ kind: 'clientCert', namespace: srcNs, secret: podName, commonName: clientName });
  if (!o.clonerPod) {
    if (o.noWorkerSlot) return { phase: Phase.CloneScheduled, running: notRunning(Reason.Pending, o.noWorkerSlot), actions };
    if (o.cloneSecretExists) {
      const svc = uploadServiceName(pvc.metadata?.name ?? '');
      actions.push({
        kind: 'createPod',
        pod: clonerPod({
          source,
          target: pvc,
          name: podName,
          secret: podName,
          image: opts.images.cloner,
          uploadUrl: o.uploadUrl,
          serverName: `${svc}.${pvc.metadata?.namespace}.svc`,
          ownerUid: dv.metadata?.uid ?? '',
          config: o.config,
        }),
      });
    }
    return { phase: Phase.CloneScheduled, running: notRunning(), actions };
  }
  const ws = workerStatus(o.clonerPod, opts.volumesOnNodeDisk);
  if (ws.phase === 'Failed' || budgetSpent(ws, opts, o)) {
    const step = failed(ws, o.clonerPod, Reason.RetryBudgetExhausted, ws.lastError ?? 'clone source failed', opts.volumesOnNodeDisk);
    return { ...step, actions: [...step.actions, ...actions] };
  }
  const phase = ws.phase === 'Running' || ws.phase === 'Succeeded' ? Phase.CloneInProgress : Phase.CloneScheduled;
  return { phase, running: withStage(ws.running, o), restarts: ws.restarts, actions, ...(phase === Phase.CloneInProgress ? { progress: progressOf(o) ?? Progress.unknown } : {}) };
}

/** After Succeeded or Failed: the worker pods and the clone secret go (unless retainAfterCompletion). */
function cleanupActions(dv: DataVolume, o: Observed): Action[] {
  if (o.pvc?.metadata?.annotations?.[Ann.retainAfterCompletion] === 'true') return [];
  const actions: Action[] = [];
  for (const pod of [o.pod, o.clonerPod]) {
    if (pod && !pod.metadata?.deletionTimestamp) actions.push({ kind: 'deletePod', namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '' });
  }
  if (o.clonerPod || o.cloneSecretExists) {
    const ns = o.sourcePvc?.metadata?.namespace ?? o.clonerPod?.metadata?.namespace;
    if (ns && o.cloneSecretExists) actions.push({ kind: 'deleteSecret', namespace: ns, name: clonerPodName(o.pvc?.metadata?.uid ?? '') });
  }
  if (dv.status?.phase === Phase.Succeeded && o.pvc && o.pod) {
    return [...actions, ...mirror(o.pvc, undefined, { [Ann.podPhase]: 'Succeeded' })];
  }
  return actions;
}

/**
 * A claim created for upload without a DataVolume (`virtctl image-upload pvc …`): CDI's upload
 * controller serves any claim annotated `storage.upload.target`; the claim's annotations are its
 * only status.
 */
export function reconcileUploadClaim(pvc: V1PersistentVolumeClaim, o: Observed, opts: Options): Action[] {
  const annotations = pvc.metadata?.annotations ?? {};
  const done = annotations[Ann.podPhase] === 'Succeeded';
  if (done) {
    if (!o.pod || annotations[Ann.retainAfterCompletion] === 'true') return [];
    return [{ kind: 'deletePod', namespace: o.pod.metadata?.namespace ?? '', name: o.pod.metadata?.name ?? '' }];
  }
  const bound = pvc.status?.phase === 'Bound';
  if (!bound && annotations[Ann.immediateBinding] === undefined) return [];
  const actions = serverSide(pvc, o, opts, undefined);
  if (!o.pod) return actions;
  const ws = workerStatus(o.pod, opts.volumesOnNodeDisk);
  actions.push(
    ...mirror(pvc, ws, {
      [Ann.uploadPodName]: o.pod.metadata?.name ?? '',
      [Ann.runningCondition]: String(ws.running.status === 'True'),
      [Ann.runningConditionReason]: ws.running.reason,
      [Ann.runningConditionMessage]: ws.running.message,
    }),
  );
  if (ws.phase === 'Succeeded') actions.push({ kind: 'deletePod', namespace: o.pod.metadata?.namespace ?? '', name: o.pod.metadata?.name ?? '' });
  return actions;
}
