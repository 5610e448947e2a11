import type { IncomingMessage } from 'node:http';
import { badRequest } from '../status.ts';
import { resourceAttributes } from './forbidden.ts';
import { Authenticated, parseServiceAccountUsername, serviceAccountUser, type UserInfo } from './user.ts';

/**
 * User impersonation (`kubectl --as`, `--as-group`), as kube-apiserver's filter does it: the
 * authenticated user needs `impersonate` on `users` (or on the `serviceaccounts` of that
 * namespace for a ServiceAccount name) and on each `groups` asked for; the request then runs as
 * that user, in system:authenticated. Uid and extra impersonation are refused, not ignored.
 */
const headerList = (req: IncomingMessage, name: string): string[] => {
  const v = req.headers[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

export function impersonated(req: IncomingMessage, user: UserInfo, authorize: (user: UserInfo, attrs: ReturnType<typeof resourceAttributes>) => void): UserInfo {
  const names = headerList(req, 'impersonate-user');
  const groups = headerList(req, 'impersonate-group');
  const unsupported = Object.keys(req.headers).find((h) => h === 'impersonate-uid' || h.startsWith('impersonate-extra-'));
  if (names.length === 0 && groups.length === 0 && !unsupported) return user;
  if (unsupported) throw badRequest(`${unsupported} impersonation is not supported by cdi serve`);
  if (names.length !== 1) throw badRequest('requested impersonation without exactly one Impersonate-User header');
  const name = names[0]!;
  const sa = parseServiceAccountUsername(name);
  authorize(user, sa ? resourceAttributes({ verb: 'impersonate', apiGroup: '', resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name }) : resourceAttributes({ verb: 'impersonate', apiGroup: '', resource: 'users', name }));
  for (const group of groups) authorize(user, resourceAttributes({ verb: 'impersonate', apiGroup: '', resource: 'groups', name: group }));
  // A ServiceAccount's groups are known from its name unless groups are asked for explicitly.
  const all = groups.length || !sa ? [...groups] : serviceAccountUser(sa.namespace, sa.name).groups;
  if (!all.includes(Authenticated)) all.push(Authenticated);
  return { username: name, groups: all };
}
