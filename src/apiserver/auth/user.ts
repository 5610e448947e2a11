/** Who a request is from, as kube-apiserver's authenticators report it. */
export interface UserInfo {
  username: string;
  uid?: string;
  groups: string[];
}

export const Authenticated = 'system:authenticated';
export const Masters = 'system:masters';
/** The user of `cdi serve`'s own bearer token: kubeadm's cluster admin, in group system:masters. */
export const AdminUser: UserInfo = { username: 'kubernetes-admin', groups: [Masters, Authenticated] };

export const serviceAccountUsername = (namespace: string, name: string): string => `system:serviceaccount:${namespace}:${name}`;

export function serviceAccountUser(namespace: string, name: string, uid?: string): UserInfo {
  return {
    username: serviceAccountUsername(namespace, name),
    ...(uid ? { uid } : {}),
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, Authenticated],
  };
}

/** `system:serviceaccount:<ns>:<name>` split, or undefined for any other user name. */
export function parseServiceAccountUsername(username: string): { namespace: string; name: string } | undefined {
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username);
  return m ? { namespace: m[1]!, name: m[2]! } : undefined;
}
