import type { AuthorizationV1Api } from '@kubernetes/client-node';
import type { UserInfo } from './authn.ts';

export interface ResourceAttributes {
  namespace: string;
  verb: string;
  group: string;
  version: string;
  resource: string;
}

export interface Decision {
  allowed: boolean;
  reason: string;
}

export type Authorizer = (user: UserInfo, attributes: ResourceAttributes) => Promise<Decision>;

/** Asks the cluster's authorizer (RBAC and whatever else it runs) through a SubjectAccessReview. */
export function subjectAccessReviewAuthorizer(api: Pick<AuthorizationV1Api, 'createSubjectAccessReview'>): Authorizer {
  return async (user, attributes) => {
    const review = await api.createSubjectAccessReview({
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, extra: user.extra, resourceAttributes: attributes },
      },
    });
    const status = review.status;
    const allowed = status?.allowed === true && status.denied !== true;
    return { allowed, reason: status?.reason || (allowed ? 'allowed' : `user ${user.username} may not ${attributes.verb} ${attributes.resource} in ${attributes.namespace}`) };
  };
}
