import { ApiError } from '../status.ts';
import type { RequestAttributes } from './rbac-rules.ts';
import type { UserInfo } from './user.ts';

/** kube-apiserver's 403 for a request the authorizer did not allow, word for word. */
export function forbidden(user: UserInfo, a: RequestAttributes): ApiError {
  if (!a.resourceRequest) return new ApiError(403, 'Forbidden', `forbidden: User "${user.username}" cannot ${a.verb} path "${a.path}"`, {});
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const where = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const why = `User "${user.username}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${where}`;
  const qualified = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const message = a.name ? `${qualified} "${a.name}" is forbidden: ${why}` : `${qualified} is forbidden: ${why}`;
  return new ApiError(403, 'Forbidden', message, { name: a.name, ...(a.apiGroup ? { group: a.apiGroup } : {}), kind: a.resource });
}

export function nonResource(verb: string, path: string): RequestAttributes {
  return { resourceRequest: false, verb, path, apiGroup: '', resource: '', subresource: '', namespace: '', name: '' };
}

export function resourceAttributes(a: { verb: string; apiGroup: string; resource: string; subresource?: string; namespace?: string; name?: string }): RequestAttributes {
  return { resourceRequest: true, path: '', subresource: '', namespace: '', name: '', ...a } as RequestAttributes;
}
