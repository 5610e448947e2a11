/**
 * The Kubernetes half of `image-upload`, as virtctl does it: find or create the DataVolume or
 * PVC, wait until its upload server is ready, find the upload proxy, get an UploadTokenRequest,
 * and after the transfer wait for processing to finish. Everything goes through client-node to
 * whatever API server the kubeconfig names (`cdi serve` or a cluster).
 */
import { readFileSync } from 'node:fs';
import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  PatchStrategy,
  StorageV1Api,
  Watch,
  setHeaderOptions,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';
import { Ann } from '../../api/annotations.ts';
import { CdiError } from '../../api/errors.ts';
import type { UploadPlan } from './flags.ts';
import { waitForObject } from './object-wait.ts';

const cdi = { group: 'cdi.kubevirt.io', version: 'v1beta1' };
/**
 * Both waits (pod ready, processing done) watch the one object and react when it changes; virtctl
 * reads it every 2 s, a second on average beyond the event. An API server that will not let us
 * watch is read every PollMs instead. The namespace's events, a list, are read at virtctl's pace.
 */
const PollMs = 500;
const EventsEveryMs = 2_000;
const ProcessingTimeoutMs = 24 * 3600_000;

interface DataVolumeLike {
  metadata?: { resourceVersion?: string; uid?: string };
  status?: { phase?: string };
}

function apiCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** The API's own words (`persistentvolumeclaims "x" not found`), as virtctl passes them through. */
function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body;
    }
  }
  if (body && typeof body === 'object' && typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  return err instanceof Error ? err.message : String(err);
}

const apiError = (err: unknown): CdiError => new CdiError('CDI_ERR_UPLOAD_API', [apiMessage(err)], { cause: err });

export class UploadKube {
  readonly namespace: string;
  readonly #kc: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  readonly #watch: Watch;
  readonly #print: (line: string) => void;

  constructor(kc: KubeConfig, namespace: string | undefined, print: (line: string) => void, watch = new Watch(kc)) {
    this.#kc = kc;
    this.namespace = namespace || kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#watch = watch;
    this.#print = print;
  }

  static load(kubeconfig: string | undefined, namespace: string | undefined, print: (line: string) => void): UploadKube {
    const kc = new KubeConfig();
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    return new UploadKube(kc, namespace, print);
  }

  /** The CA the kubeconfig trusts for its cluster; `cdi serve` signs the proxy with the same one. */
  clusterCa(): string | undefined {
    const cluster = this.#kc.getCurrentCluster();
    if (cluster?.caData) return Buffer.from(cluster.caData, 'base64').toString('utf8');
    if (cluster?.caFile) return readFileSync(cluster.caFile, 'utf8');
    return undefined;
  }

  async #pvc(name: string): Promise<V1PersistentVolumeClaim | undefined> {
    try {
      return await this.#core.readNamespacedPersistentVolumeClaim({ namespace: this.namespace, name });
    } catch (err) {
      if (apiCode(err) === 404) return undefined;
      throw apiError(err);
    }
  }

  async #dataVolume(name: string): Promise<DataVolumeLike | undefined> {
    try {
      return (await this.#custom.getNamespacedCustomObject({ ...cdi, namespace: this.namespace, plural: 'datavolumes', name })) as DataVolumeLike;
    } catch (err) {
      if (apiCode(err) === 404) return undefined;
      throw apiError(err);
    }
  }

  /** Step 2 of virtctl's flow: use what exists (with its checks) or create the DataVolume or PVC. */
  async prepareTarget(plan: UploadPlan): Promise<void> {
    const pvc = await this.#pvc(plan.name);
    if (pvc) {
      if (plan.kind === 'dv' && !(await this.#dataVolume(plan.name))) {
        throw new CdiError('CDI_ERR_UPLOAD_NO_DATAVOLUME', [`${this.namespace}/${plan.name}`]);
      }
      const annotations = pvc.metadata?.annotations ?? {};
      if (annotations[Ann.podPhase] === 'Succeeded') throw new CdiError('CDI_ERR_UPLOAD_PVC_DONE', [plan.name]);
      if (!(Ann.uploadTarget in annotations)) {
        if (!plan.noCreate) throw new CdiError('CDI_ERR_UPLOAD_PVC_UNAVAILABLE', [plan.name]);
        await this.#core.patchNamespacedPersistentVolumeClaim(
          { namespace: this.namespace, name: plan.name, body: { metadata: { annotations: { [Ann.uploadTarget]: '' } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      }
      if (plan.contentType === 'archive' && annotations[Ann.contentType] !== 'archive') {
        throw new CdiError('CDI_ERR_UPLOAD_PVC_NOT_ARCHIVE', [plan.name]);
      }
      this.#print(`Using existing PVC ${this.namespace}/${plan.name}`);
      return;
    }
    if (plan.noCreate) throw new CdiError('CDI_ERR_UPLOAD_PVC_NOT_FOUND', [plan.name]);
    if (!plan.size) throw new CdiError('CDI_ERR_UPLOAD_SIZE_MISSING');
    if (plan.storageClass) {
      try {
        await this.#kc.makeApiClient(StorageV1Api).readStorageClass({ name: plan.storageClass });
      } catch (err) {
        throw apiError(err);
      }
    }
    const annotations: Record<string, string> = plan.forceBind ? { [Ann.immediateBinding]: '' } : {};
    const metadata = { name: plan.name, namespace: this.namespace, annotations, ...(Object.keys(plan.labels).length ? { labels: plan.labels } : {}) };
    const storage = {
      resources: { requests: { storage: plan.size } },
      ...(plan.storageClass ? { storageClassName: plan.storageClass } : {}),
      ...(plan.accessMode ? { accessModes: [plan.accessMode] } : {}),
      ...(plan.volumeMode ? { volumeMode: plan.volumeMode === 'block' ? 'Block' : 'Filesystem' } : {}),
    };
    try {
      if (plan.kind === 'dv') {
        await this.#custom.createNamespacedCustomObject({
          ...cdi,
          namespace: this.namespace,
          plural: 'datavolumes',
          body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata, spec: { source: { upload: {} }, contentType: plan.contentType, storage } },
        });
        this.#print(`DataVolume ${this.namespace}/${plan.name} created`);
      } else {
        await this.#core.createNamespacedPersistentVolumeClaim({
          namespace: this.namespace,
          body: {
            apiVersion: 'v1',
            kind: 'PersistentVolumeClaim',
            metadata: {
              ...metadata,
              annotations: { ...annotations, [Ann.uploadTarget]: '', [Ann.contentType]: plan.contentType },
              labels: { ...plan.labels, 'cdi.kubevirt.io/applyStorageProfile': 'true' },
            },
            spec: { ...storage, accessModes: storage.accessModes ?? ['ReadWriteOnce'] },
          },
        });
        this.#print(`PVC ${this.namespace}/${plan.name} created`);
      }
    } catch (err) {
      throw apiError(err);
    }
  }

  #pvcs(): string {
    return `/api/v1/namespaces/${this.namespace}/persistentvolumeclaims`;
  }

  /** Step 3: wait until the upload server is ready (PVC annotation, or DV UploadReady). */
  async waitReady(plan: UploadPlan): Promise<void> {
    this.#print(`Waiting for PVC ${plan.name} upload pod to be ready...`);
    const common = {
      name: plan.name,
      pollMs: PollMs,
      timeoutMs: plan.waitSecs * 1000,
      timeoutError: () => new CdiError('CDI_ERR_UPLOAD_TIMEOUT'),
      alongside: { everyMs: EventsEveryMs, run: () => this.#checkEvents(plan.name) },
    };
    if (plan.kind === 'pvc') {
      await waitForObject(
        { ...common, collection: this.#pvcs(), read: () => this.#pvc(plan.name), isDone: (pvc) => pvc?.metadata?.annotations?.[Ann.podReady] === 'true' },
        this.#watch,
      );
    } else {
      const isDone = (dv: DataVolumeLike | undefined): boolean => {
        const phase = dv?.status?.phase;
        if ((phase === 'WaitForFirstConsumer' || phase === 'PendingPopulation') && !plan.forceBind) {
          throw new CdiError('CDI_ERR_UPLOAD_DV_PHASE', [phase]);
        }
        return phase === 'UploadReady';
      };
      const collection = `/apis/${cdi.group}/${cdi.version}/namespaces/${this.namespace}/datavolumes`;
      await waitForObject({ ...common, collection, read: () => this.#dataVolume(plan.name), isDone }, this.#watch);
    }
    this.#print('Pod now ready');
  }

  /**
   * virtctl's check of the namespace's events: the PVC's failed provisioning, the DataVolume's
   * invalid claim. Matched by kind and UID, as virtctl does, so the events of a deleted volume of
   * the same name (kept for the event TTL, an hour) do not fail a new one.
   */
  async #checkEvents(name: string): Promise<void> {
    const [events, pvc, dv] = await Promise.all([
      this.#core.listNamespacedEvent({ namespace: this.namespace }).catch(() => undefined),
      this.#pvc(name).catch(() => undefined),
      this.#dataVolume(name).catch(() => undefined),
    ]);
    const pvcUid = pvc?.metadata?.uid;
    const dvUid = dv?.metadata?.uid;
    for (const event of events?.items ?? []) {
      const about = event.involvedObject;
      const message = event.message ?? '';
      if (about?.kind === 'PersistentVolumeClaim' && pvcUid && about.uid === pvcUid && event.reason === 'ProvisioningFailed' && !/the object has been modified/.test(message)) {
        throw new CdiError('CDI_ERR_UPLOAD_PROVISIONING', [message]);
      }
      if (about?.kind === 'DataVolume' && dvUid && about.uid === dvUid && event.reason === 'ErrClaimNotValid') {
        throw new CdiError('CDI_ERR_UPLOAD_CLAIM_INVALID', [message]);
      }
    }
  }

  /** Step 4: the CDIConfig `config` names the proxy (override first). */
  async uploadProxyUrl(): Promise<string> {
    let config: { spec?: { uploadProxyURLOverride?: string }; status?: { uploadProxyURL?: string } };
    try {
      config = (await this.#custom.getClusterCustomObject({ ...cdi, plural: 'cdiconfigs', name: 'config' })) as typeof config;
    } catch (err) {
      throw apiError(err);
    }
    const url = config.spec?.uploadProxyURLOverride || config.status?.uploadProxyURL;
    if (!url) throw new CdiError('CDI_ERR_UPLOAD_PROXY_URL');
    return /^https?:\/\//i.test(url) ? url : `https://${url}`;
  }

  /** Step 5: an UploadTokenRequest for the PVC; the answer carries the JWT in status.token. */
  async uploadToken(pvcName: string): Promise<string> {
    try {
      const answer = (await this.#custom.createNamespacedCustomObject({
        group: 'upload.cdi.kubevirt.io',
        version: 'v1beta1',
        namespace: this.namespace,
        plural: 'uploadtokenrequests',
        body: {
          apiVersion: 'upload.cdi.kubevirt.io/v1beta1',
          kind: 'UploadTokenRequest',
          metadata: { generateName: 'token-for-virtctl-', namespace: this.namespace },
          spec: { pvcName },
        },
      })) as { status?: { token?: string } };
      if (!answer.status?.token) throw new Error('the answer has no status.token');
      return answer.status.token;
    } catch (err) {
      throw new CdiError('CDI_ERR_UPLOAD_TOKEN_REQUEST', [apiMessage(err)], { cause: err });
    }
  }

  /** Step 8: a DataSource named like the volume, pointing at it. */
  async upsertDataSource(plan: UploadPlan): Promise<void> {
    const spec = { source: { pvc: { name: plan.name, namespace: this.namespace } } };
    const labels = Object.keys(plan.labels).length ? { labels: plan.labels } : {};
    try {
      await this.#custom.createNamespacedCustomObject({
        ...cdi,
        namespace: this.namespace,
        plural: 'datasources',
        body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataSource', metadata: { name: plan.name, namespace: this.namespace, ...labels }, spec },
      });
    } catch (err) {
      if (apiCode(err) !== 409) throw apiError(err);
      await this.#custom.patchNamespacedCustomObject(
        { ...cdi, namespace: this.namespace, plural: 'datasources', name: plan.name, body: { metadata: labels, spec } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    }
  }

  /** Step 9: wait (up to 24 h) for the upload pod to report Succeeded. */
  async waitProcessed(name: string, timeoutMs = ProcessingTimeoutMs): Promise<void> {
    await waitForObject(
      {
        collection: this.#pvcs(),
        name,
        read: () => this.#pvc(name),
        isDone: (pvc) => pvc?.metadata?.annotations?.[Ann.podPhase] === 'Succeeded',
        pollMs: PollMs,
        timeoutMs,
        timeoutError: () => new CdiError('CDI_ERR_UPLOAD_PROCESSING_TIMEOUT'),
      },
      this.#watch,
    );
  }
}
