import type { Logger } from '../../api/logger.ts';
import { findKind, resourceKey, type KubeObject } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import { ApiError } from '../status.ts';

/**
 * kube-controller-manager's serviceaccount controller: every active namespace has a
 * ServiceAccount named `default`, created with the namespace and recreated if deleted.
 */
const namespaces = findKind('', 'v1', 'namespaces')!;
export const serviceAccounts = findKind('', 'v1', 'serviceaccounts')!;
const saKey = resourceKey(serviceAccounts);
const nsKey = resourceKey(namespaces);

export function startDefaultServiceAccounts(service: ObjectService, log: Logger): () => void {
  const ensure = (namespace: string): void => {
    const ns = service.find(namespaces, undefined, namespace);
    if (!ns || ns.metadata?.deletionTimestamp || service.find(serviceAccounts, namespace, 'default')) return;
    try {
      service.create(serviceAccounts, namespace, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } } satisfies KubeObject);
    } catch (err) {
      // A namespace that began terminating in between refuses new content: nothing to do.
      if (!(err instanceof ApiError && (err.code === 403 || err.code === 404 || err.code === 409))) log.error({ err, namespace }, 'cannot create the default ServiceAccount');
    }
  };
  for (const ns of service.list(namespaces, undefined).items) ensure(ns.metadata!.name!);
  return service.hub.subscribe((e) => {
    if (e.resource === nsKey && e.type === 'ADDED') setImmediate(() => ensure(e.name));
    else if (e.resource === saKey && e.type === 'DELETED' && e.name === 'default') setImmediate(() => ensure(e.namespace));
  });
}
