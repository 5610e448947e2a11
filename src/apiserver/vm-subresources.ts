import type { IncomingMessage, ServerResponse } from 'node:http';
import { runStrategyOf, type StateChangeRequest } from '../vm/run-strategy.ts';
import { VmiFinalPhases } from '../vm/types.ts';
import { resourceAttributes } from './auth/forbidden.ts';
import type { ApiAuth } from './auth/index.ts';
import type { UserInfo } from './auth/user.ts';
import { readJson } from './http.ts';
import { findKind, type KubeObject } from './kinds.ts';
import type { ObjectService } from './objects.ts';
import { ApiError, badRequest, internal, methodNotAllowed } from './status.ts';

/**
 * KubeVirt's virt-api lifecycle subresources, as virtctl calls them:
 *   PUT /apis/subresources.kubevirt.io/v1/namespaces/<ns>/virtualmachines/<name>/{start,stop,restart}
 * Halted/Always VMs get their run strategy (or `running`) changed; Manual and RerunOnFailure VMs
 * get state change requests in their status, as virt-api does; the VM controller acts on both.
 * Refusals are virt-api's 409 Conflicts with its messages.
 */
export const SubresourceGroup = 'subresources.kubevirt.io';
const vms = findKind('kubevirt.io', 'v1', 'virtualmachines')!;
const vmis = findKind('kubevirt.io', 'v1', 'virtualmachineinstances')!;
export const VmActions = ['start', 'stop', 'restart'] as const;
type Action = (typeof VmActions)[number];

function vmConflict(name: string, message: string): ApiError {
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on virtualmachine.kubevirt.io "${name}": ${message}`, { name, group: 'kubevirt.io', kind: 'virtualmachine' });
}

export async function serveVmSubresource(
  service: ObjectService,
  auth: ApiAuth,
  user: UserInfo,
  req: IncomingMessage,
  res: ServerResponse,
  namespace: string,
  name: string,
  action: string,
): Promise<void> {
  if (!(VmActions as readonly string[]).includes(action)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (req.method !== 'PUT') throw methodNotAllowed(`only PUT is allowed on virtualmachines/${action}`);
  auth.require(user, resourceAttributes({ verb: 'update', apiGroup: SubresourceGroup, resource: 'virtualmachines', subresource: action, namespace, name }));
  const body = ((await readJson(req)) ?? {}) as { gracePeriodSeconds?: number; paused?: boolean; dryRun?: string[] };
  if (body.paused) throw badRequest('starting paused is not supported by the local VM runtime');
  if (action === 'restart' && body.gracePeriodSeconds !== undefined && body.gracePeriodSeconds !== 0) {
    throw badRequest(body.gracePeriodSeconds > 0 ? 'For force restart, only gracePeriod=0 is supported for now' : 'gracePeriod has to be greater or equal to 0');
  }
  const vm = service.get(vms, namespace, name);
  const vmi = service.find(vmis, namespace, name);
  const spec = (vm.spec ?? {}) as { running?: boolean; runStrategy?: string };
  const strategy = runStrategyOf(spec);
  if (typeof strategy !== 'string') throw internal(strategy.invalid);
  const phase = (vmi?.status as { phase?: string } | undefined)?.phase ?? '';
  const vmiLive = vmi !== undefined && !VmiFinalPhases.has(phase) && phase !== '' && phase !== 'Unknown';
  const vmiFinal = vmi !== undefined && VmiFinalPhases.has(phase);
  const dryRun = (body.dryRun ?? []).includes('All');

  const setRunning = (running: boolean) => {
    const next = spec.runStrategy !== undefined ? { ...spec, runStrategy: running ? 'Always' : 'Halted' } : { ...spec, running };
    service.update(vms, namespace, name, { ...vm, spec: next }, { manager: 'virt-api', ...(dryRun ? { dryRun } : {}) });
  };
  const request = (...requests: StateChangeRequest[]) => {
    const status = (vm.status ?? {}) as { stateChangeRequests?: StateChangeRequest[] };
    if (status.stateChangeRequests?.length) throw vmConflict(name, 'unable to complete request: stop/start already underway');
    service.update(vms, namespace, name, { ...vm, status: { ...status, stateChangeRequests: requests } }, { subresource: 'status', manager: 'virt-api', ...(dryRun ? { dryRun } : {}) });
  };
  const vmiUid = () => String((vmi as KubeObject).metadata?.uid ?? '');

  switch (action as Action) {
    case 'start':
      if (vmiLive) throw vmConflict(name, 'VM is already running');
      switch (strategy) {
        case 'Halted':
          setRunning(true);
          break;
        case 'RerunOnFailure':
          if (phase === 'Failed') throw vmConflict(name, 'RerunOnFailure does not support starting VM from failed state');
          request(...(vmiFinal ? [{ action: 'Stop' as const, uid: vmiUid() }] : []), { action: 'Start' });
          break;
        case 'Manual':
          request(...(vmiFinal ? [{ action: 'Stop' as const, uid: vmiUid() }] : []), { action: 'Start' });
          break;
        default:
          throw vmConflict(name, `${strategy} does not support manual start requests`);
      }
      break;
    case 'stop':
      switch (strategy) {
        case 'Halted':
          if (!vmiLive) throw vmConflict(name, 'VM is not running');
          throw vmConflict(name, 'Halted only supports manual stop requests with a shorter graceperiod');
        case 'RerunOnFailure':
        case 'Manual':
          if (!vmiLive) throw vmConflict(name, 'VM is not running');
          request({ action: 'Stop', uid: vmiUid() });
          break;
        default:
          setRunning(false);
      }
      break;
    case 'restart':
      if (strategy === 'Halted' || strategy === 'Once') throw vmConflict(name, `RunStategy ${strategy} does not support manual restart requests`);
      if (!vmi) throw vmConflict(name, 'VM is not running: Halted');
      request({ action: 'Stop', uid: vmiUid() }, { action: 'Start' });
      break;
  }
  res.writeHead(202).end();
}
