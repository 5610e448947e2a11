import type { KindInfo, KubeObject } from '../kinds.ts';
import { badRequest, invalid } from '../status.ts';
import { nonResource, resourceAttributes } from './forbidden.ts';
import type { RbacAuthorizer } from './rbac-authorizer.ts';
import type { RequestAttributes } from './rbac-rules.ts';
import type { UserInfo } from './user.ts';

/**
 * authorization.k8s.io/v1 reviews, answered and never stored: SelfSubjectAccessReview (may I?),
 * SubjectAccessReview (may this user?) and SelfSubjectRulesReview (what may I in a namespace?),
 * which `kubectl auth can-i` and `--list` send.
 */
interface ReviewSpec {
  resourceAttributes?: { namespace?: string; verb?: string; group?: string; resource?: string; subresource?: string; name?: string };
  nonResourceAttributes?: { path?: string; verb?: string };
  user?: string;
  groups?: string[];
  uid?: string;
  namespace?: string;
}

function specOf(info: KindInfo, body: unknown): ReviewSpec {
  const obj = body as KubeObject | undefined;
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw badRequest(`the request body is not a ${info.kind}`);
  if ((obj.kind !== undefined && obj.kind !== info.kind) || (obj.apiVersion !== undefined && obj.apiVersion !== 'authorization.k8s.io/v1')) {
    throw badRequest(`expected authorization.k8s.io/v1 ${info.kind}, got ${String(obj.apiVersion)} ${String(obj.kind)}`);
  }
  return (obj.spec ?? {}) as ReviewSpec;
}

function attributesOf(info: KindInfo, spec: ReviewSpec): RequestAttributes {
  const r = spec.resourceAttributes;
  const n = spec.nonResourceAttributes;
  if ((r && n) || (!r && !n)) {
    throw invalid(info, '', [{ field: 'spec.resourceAttributes', message: 'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' }]);
  }
  if (n) return nonResource(n.verb ?? '', n.path ?? '');
  return resourceAttributes({ verb: r!.verb ?? '', apiGroup: r!.group ?? '', resource: r!.resource ?? '', subresource: r!.subresource ?? '', namespace: r!.namespace ?? '', name: r!.name ?? '' });
}

function answer(info: KindInfo, spec: ReviewSpec, status: Record<string, unknown>): KubeObject {
  return { kind: info.kind, apiVersion: 'authorization.k8s.io/v1', metadata: {}, spec, status };
}

export function selfSubjectAccessReview(rbac: RbacAuthorizer, info: KindInfo, user: UserInfo, body: unknown): KubeObject {
  const spec = specOf(info, body);
  return answer(info, spec, { allowed: rbac.authorize(user, attributesOf(info, spec)) });
}

export function subjectAccessReview(rbac: RbacAuthorizer, info: KindInfo, body: unknown): KubeObject {
  const spec = specOf(info, body);
  if (!spec.user && !spec.groups?.length) throw invalid(info, '', [{ field: 'spec.user', message: 'Invalid value: "": at least one of user or group must be specified' }]);
  const groups = [...(spec.groups ?? [])];
  const subject: UserInfo = { username: spec.user ?? '', groups };
  return answer(info, spec, { allowed: rbac.authorize(subject, attributesOf(info, spec)) });
}

export function selfSubjectRulesReview(rbac: RbacAuthorizer, info: KindInfo, user: UserInfo, body: unknown): KubeObject {
  const spec = specOf(info, body);
  if (!spec.namespace) throw badRequest('no namespace on request');
  const rules = rbac.rulesFor(user, spec.namespace);
  const resourceRules = rules.filter((r) => !r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, apiGroups: r.apiGroups ?? [], resources: r.resources ?? [], ...(r.resourceNames?.length ? { resourceNames: r.resourceNames } : {}) }));
  const nonResourceRules = rules.filter((r) => r.nonResourceURLs?.length).map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs }));
  return answer(info, spec, { resourceRules, nonResourceRules, incomplete: false });
}
