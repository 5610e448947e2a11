import { randomUUID } from 'node:crypto';
import type { AdmissionRequest, AdmissionStatus, Operation } from '../../admission/review.ts';
import type { Logger } from '../../api/logger.ts';
import type { UserInfo } from '../auth/user.ts';
import { findKind, resourceKey, type KindInfo, type KubeObject } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import { jsonPatch, type Json } from '../patch.ts';
import { ApiError } from '../status.ts';
import { WebhookCallError, WebhookCaller } from './call.ts';
import { webhooksOf, type Webhook, type WebhookKind } from './config.ts';
import { webhookMatches, type RequestAttributes } from './match.ts';

/**
 * kube-apiserver's admission webhook dispatch in `cdi serve`: the webhooks of the stored
 * Mutating/ValidatingWebhookConfigurations, kept in memory from the watch stream, are called
 * for each write they match: mutating ones one after another in configuration-name order, each
 * seeing the last one's patch, then validating ones all at once on the final object. A denial is
 * answered as kube-apiserver answers it; a webhook that cannot be called fails the request
 * (failurePolicy Fail, 500) or is skipped (Ignore).
 */
export const webhookKinds = {
  validating: findKind('admissionregistration.k8s.io', 'v1', 'validatingwebhookconfigurations')!,
  mutating: findKind('admissionregistration.k8s.io', 'v1', 'mutatingwebhookconfigurations')!,
};
const namespaces = findKind('', 'v1', 'namespaces')!;

/** kube-apiserver's rendering of a webhook's refusal: its status code (at least 400), `admission webhook "<name>" denied the request: <message>`. */
export function webhookDenied(name: string, status: Partial<AdmissionStatus> & { reason?: string } | undefined): ApiError {
  const deniedBy = `admission webhook "${name}" denied the request`;
  const message = status?.message ? `${deniedBy}: ${status.message}` : status?.reason ? `${deniedBy}: ${status.reason}` : `${deniedBy} without explanation`;
  const code = typeof status?.code === 'number' && status.code >= 400 ? status.code : 400;
  return new ApiError(code, status?.reason ?? '', message, status?.details as Record<string, unknown> | undefined);
}

export interface WriteAttributes {
  info: KindInfo;
  operation: Operation;
  namespace: string;
  name: string;
  subresource: string;
  user: UserInfo;
  dryRun: boolean;
}

export class WebhookDispatcher {
  private readonly service: ObjectService;
  private readonly log: Logger;
  private readonly caller = new WebhookCaller();
  private readonly configurations: Record<WebhookKind, Map<string, Webhook[]>> = { validating: new Map(), mutating: new Map() };
  private readonly unsubscribe: () => void;

  constructor(service: ObjectService, log: Logger) {
    this.service = service;
    this.log = log.child({ component: 'admission-webhooks' });
    const keys = { validating: resourceKey(webhookKinds.validating), mutating: resourceKey(webhookKinds.mutating) };
    for (const kind of ['validating', 'mutating'] as const) {
      for (const row of service.store.list({ resource: keys[kind] })) this.configurations[kind].set(row.name, webhooksOf(kind, JSON.parse(row.json) as KubeObject));
    }
    this.unsubscribe = service.hub.subscribe((e) => {
      const kind = e.resource === keys.validating ? 'validating' : e.resource === keys.mutating ? 'mutating' : undefined;
      if (!kind) return;
      if (e.type === 'DELETED') this.configurations[kind].delete(e.name);
      else this.configurations[kind].set(e.name, webhooksOf(kind, e.object ?? (JSON.parse(e.json) as KubeObject)));
    });
  }

  async close(): Promise<void> {
    this.unsubscribe();
    await this.caller.close();
  }

  private matching(kind: WebhookKind, a: RequestAttributes): Webhook[] {
    const configurations = this.configurations[kind];
    if (configurations.size === 0) return [];
    return [...configurations.keys()].sort().flatMap((name) => configurations.get(name)!.filter((w) => webhookMatches(w, a)));
  }

  private attributes(w: WriteAttributes, object: KubeObject | undefined, oldObject: KubeObject | undefined): RequestAttributes {
    let labels: Record<string, string> | undefined | null = null;
    return {
      operation: w.operation,
      group: w.info.group,
      version: w.info.version,
      resource: w.info.plural,
      subresource: w.subresource,
      namespace: w.namespace,
      namespaceLabels: () => (labels === null ? (labels = this.service.find(namespaces, undefined, w.namespace)?.metadata?.labels) : labels),
      object,
      oldObject,
      isNamespace: w.info === namespaces,
    };
  }

  private requestFor(w: WriteAttributes, object: KubeObject | undefined, oldObject: KubeObject | undefined): AdmissionRequest {
    const kind = { group: w.info.group, version: w.info.version, kind: w.info.kind };
    const resource = { group: w.info.group, version: w.info.version, resource: w.info.plural };
    const options = { CREATE: 'CreateOptions', UPDATE: 'UpdateOptions', DELETE: 'DeleteOptions', CONNECT: undefined }[w.operation];
    return {
      uid: randomUUID(),
      kind,
      resource,
      ...(w.subresource ? { subResource: w.subresource } : {}),
      ...({ requestKind: kind, requestResource: resource, ...(w.subresource ? { requestSubResource: w.subresource } : {}) } as object),
      name: w.name,
      ...(w.namespace ? { namespace: w.namespace } : {}),
      operation: w.operation,
      userInfo: { username: w.user.username, ...(w.user.uid ? { uid: w.user.uid } : {}), groups: w.user.groups },
      ...(object !== undefined ? { object } : {}),
      ...(oldObject !== undefined ? { oldObject } : {}),
      dryRun: w.dryRun,
      ...(options ? ({ options: { kind: options, apiVersion: 'meta.k8s.io/v1' } } as object) : {}),
    } as AdmissionRequest;
  }

  /** Calls one webhook; undefined when its failure is ignored. */
  private async admit(hook: Webhook, w: WriteAttributes, object: KubeObject | undefined, oldObject: KubeObject | undefined) {
    try {
      const response = await this.caller.call(hook, this.requestFor(w, object, oldObject));
      if (!response.allowed) throw webhookDenied(hook.name, response.status);
      return response;
    } catch (err) {
      if (!(err instanceof WebhookCallError)) throw err;
      if (hook.failurePolicy === 'Ignore') {
        this.log.warn({ webhook: hook.name, err: err.message }, 'failed calling webhook, failing open');
        return undefined;
      }
      this.log.warn({ webhook: hook.name, err: err.message }, 'failed calling webhook, failing closed');
      throw new ApiError(500, 'InternalError', `Internal error occurred: failed calling webhook "${hook.name}": ${err.message}`);
    }
  }

  /** The object after every matching mutating webhook's patch, in order. */
  async mutate(w: WriteAttributes, object: KubeObject | undefined, oldObject: KubeObject | undefined): Promise<KubeObject | undefined> {
    let current = object;
    for (const hook of this.matching('mutating', this.attributes(w, current, oldObject))) {
      const response = await this.admit(hook, w, current, oldObject);
      if (!response?.patch) continue;
      if (response.patchType !== 'JSONPatch' || current === undefined) {
        throw new ApiError(500, 'InternalError', `Internal error occurred: failed calling webhook "${hook.name}": unsupported patch type ${JSON.stringify(response.patchType ?? '')}${current === undefined ? ` for a ${w.operation}` : ''}`);
      }
      let ops: Json;
      try {
        ops = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as Json;
      } catch (err) {
        throw new ApiError(500, 'InternalError', `Internal error occurred: failed calling webhook "${hook.name}": invalid patch: ${(err as Error).message}`);
      }
      current = jsonPatch(current as Json, ops) as KubeObject;
    }
    return current;
  }

  /** Resolves when every matching validating webhook allows the write. */
  async validate(w: WriteAttributes, object: KubeObject | undefined, oldObject: KubeObject | undefined): Promise<void> {
    const hooks = this.matching('validating', this.attributes(w, object, oldObject));
    await Promise.all(hooks.map((hook) => this.admit(hook, w, object, oldObject)));
  }

  /** Whether a webhook of this name is registered (it then replaces cdi serve's in-process one). */
  registered(name: string): boolean {
    for (const kind of ['mutating', 'validating'] as const) for (const hooks of this.configurations[kind].values()) if (hooks.some((h) => h.name === name)) return true;
    return false;
  }

  /** Whether any validating webhook is registered at all (the router skips a dry run when none is). */
  get validatingConfigured(): boolean {
    return this.configurations.validating.size > 0;
  }
}
