import {
  ApiException,
  CoreV1Api,
  CustomObjectsApi,
  HttpMethod,
  KubeConfig,
  PatchStrategy,
  RequestContext,
  setHeaderOptions,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { fetch } from 'undici';

/** The few Kubernetes calls the controllers make, with the error checks they need. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}
export const isNotFound = (err: unknown) => statusOf(err) === 404;
export const isConflict = (err: unknown) => statusOf(err) === 409;

export interface CustomRef {
  group: string;
  version: string;
  plural: string;
}

/**
 * A copy of the kubeconfig whose requests share one connection pool. client-node 2 builds a new
 * undici Agent, and so a new TLS session, for every request; at a few hundred DataVolumes that
 * handshaking dominated the controller's CPU time.
 */
export function pooledKubeConfig(source: KubeConfig): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(source.exportConfig());
  const internals = kc as unknown as { createDispatcher: (cluster: unknown, options: unknown) => unknown };
  const create = internals.createDispatcher.bind(kc);
  let shared: unknown;
  internals.createDispatcher = (cluster, options) => (shared ??= create(cluster, options));
  return kc;
}

export class Kube {
  readonly core: CoreV1Api;
  readonly custom: CustomObjectsApi;
  readonly kubeConfig: KubeConfig;

  constructor(kubeConfig: KubeConfig) {
    this.kubeConfig = pooledKubeConfig(kubeConfig);
    this.core = this.kubeConfig.makeApiClient(CoreV1Api);
    this.custom = this.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  listCustom<T extends KubernetesObject>(ref: CustomRef): Promise<KubernetesListObject<T>> {
    return this.custom.listClusterCustomObject(ref) as Promise<KubernetesListObject<T>>;
  }

  /**
   * Lists an API path as plain JSON objects, the form watch events arrive in. client-node's typed
   * lists throw on one malformed object (`spec.volumes: {}`: "data is not iterable"), which would
   * fail every relist of the whole informer.
   */
  async listRaw<T extends KubernetesObject>(path: string): Promise<KubernetesListObject<T>> {
    const server = this.kubeConfig.getCurrentCluster()?.server;
    if (!server) throw new Error('No currently active cluster');
    const ctx = new RequestContext(`${server}${path}`, HttpMethod.GET);
    ctx.setHeaderParam('Accept', 'application/json');
    await this.kubeConfig.applySecurityAuthentication(ctx);
    const res = await fetch(ctx.getUrl(), { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() });
    const text = await res.text();
    if (!res.ok) throw new ApiException(res.status, 'Unsuccessful HTTP Request', text, Object.fromEntries(res.headers));
    return JSON.parse(text) as KubernetesListObject<T>;
  }

  getCustom<T>(ref: CustomRef, namespace: string | undefined, name: string): Promise<T> {
    return (namespace ? this.custom.getNamespacedCustomObject({ ...ref, namespace, name }) : this.custom.getClusterCustomObject({ ...ref, name })) as Promise<T>;
  }

  createCustom<T>(ref: CustomRef, namespace: string, body: object): Promise<T> {
    return this.custom.createNamespacedCustomObject({ ...ref, namespace, body }) as Promise<T>;
  }

  replaceStatus<T>(ref: CustomRef, namespace: string | undefined, name: string, body: object): Promise<T> {
    return (namespace
      ? this.custom.replaceNamespacedCustomObjectStatus({ ...ref, namespace, name, body })
      : this.custom.replaceClusterCustomObjectStatus({ ...ref, name, body })) as Promise<T>;
  }

  mergePatchPvc(namespace: string, name: string, body: object): Promise<unknown> {
    return this.core.patchNamespacedPersistentVolumeClaim({ namespace, name, body }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  }

  /** Creates, treating AlreadyExists as done. */
  async ensure(create: () => Promise<unknown>): Promise<void> {
    try {
      await create();
    } catch (err) {
      if (!isConflict(err)) throw err;
    }
  }

  /** Deletes, treating NotFound as done. */
  async remove(del: () => Promise<unknown>): Promise<void> {
    try {
      await del();
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
