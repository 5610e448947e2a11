import { setTimeout as sleep } from 'node:timers/promises';
import type { AdmissionregistrationV1Api, ApiregistrationV1Api } from '@kubernetes/client-node';
import type { Logger } from '../../api/logger.ts';
import { isNotFound } from '../kube-errors.ts';
import { syncCertificates, type CertLifetimes, type CertStore, type SignerSpec } from './rotation.ts';
import { ensureSigningKey } from './signing-key.ts';

export const UploadApiServiceName = 'v1beta1.upload.cdi.kubevirt.io';
export const ApiServerBundle = 'cdi-apiserver-signer-bundle';
/** CDI's webhook configurations (docker/deploy/webhooks.yaml), whose caBundle is the same signer bundle. */
export const WebhookConfigurations = {
  dataVolumeValidate: 'cdi-api-datavolume-validate',
  dataVolumeMutate: 'cdi-api-datavolume-mutate',
  pvcMutate: 'cdi-api-pvc-mutate',
} as const;

export type WebhookConfigurationApi = Pick<
  AdmissionregistrationV1Api,
  'readValidatingWebhookConfiguration' | 'replaceValidatingWebhookConfiguration' | 'readMutatingWebhookConfiguration' | 'replaceMutatingWebhookConfiguration'
>;

const MaxSleepMs = 10 * 60_000;
const RetryMs = 10_000;

export interface CertControllerOptions {
  store: CertStore;
  specs: readonly SignerSpec[];
  /** Where the token API's trust bundle goes so the aggregator verifies its serving certificate. */
  apiServices?: Pick<ApiregistrationV1Api, 'readAPIService' | 'replaceAPIService'>;
  /** Where the webhooks' trust bundle goes so the kube-apiserver verifies cdi-apiserver when it calls them. */
  webhookConfigurations?: WebhookConfigurationApi;
  lifetimes?: CertLifetimes;
  logger: Logger;
  signal: AbortSignal;
  now?: () => Date;
  /** Called once after the first pass, whether it succeeded or not. */
  onFirstPass?: () => void;
}

/** Points the aggregated APIService at the current signer bundle; absent APIService is not an error. */
export async function publishApiServiceCaBundle(api: NonNullable<CertControllerOptions['apiServices']>, bundlePem: string, logger: Logger): Promise<void> {
  let apiService;
  try {
    apiService = await api.readAPIService({ name: UploadApiServiceName });
  } catch (err) {
    if (isNotFound(err)) return logger.warn({ apiService: UploadApiServiceName }, 'APIService not installed; token API trust not published');
    throw err;
  }
  const caBundle = Buffer.from(bundlePem).toString('base64');
  if (apiService.spec?.caBundle === caBundle) return;
  await api.replaceAPIService({ name: UploadApiServiceName, body: { ...apiService, spec: { ...apiService.spec!, caBundle } } });
  logger.info({ apiService: UploadApiServiceName }, 'published token API CA bundle');
}

interface WebhookConfiguration {
  webhooks?: Array<{ clientConfig: { caBundle?: string } }>;
}

async function publishInto<T extends WebhookConfiguration>(name: string, read: () => Promise<T>, replace: (body: T) => Promise<unknown>, caBundle: string, logger: Logger): Promise<void> {
  let configuration: T;
  try {
    configuration = await read();
  } catch (err) {
    if (isNotFound(err)) return logger.warn({ webhookConfiguration: name }, 'webhook configuration not installed; its trust not published');
    throw err;
  }
  const webhooks = configuration.webhooks ?? [];
  if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) return;
  await replace({ ...configuration, webhooks: webhooks.map((w) => ({ ...w, clientConfig: { ...w.clientConfig, caBundle } })) });
  logger.info({ webhookConfiguration: name }, 'published webhook CA bundle');
}

/** Writes the signer bundle into every webhook of CDI's webhook configurations; absent ones are not an error. */
export async function publishWebhookCaBundle(api: WebhookConfigurationApi, bundlePem: string, logger: Logger): Promise<void> {
  const caBundle = Buffer.from(bundlePem).toString('base64');
  const validating = (name: string) =>
    publishInto(name, () => api.readValidatingWebhookConfiguration({ name }), (body) => api.replaceValidatingWebhookConfiguration({ name, body }), caBundle, logger);
  const mutating = (name: string) =>
    publishInto(name, () => api.readMutatingWebhookConfiguration({ name }), (body) => api.replaceMutatingWebhookConfiguration({ name, body }), caBundle, logger);
  await validating(WebhookConfigurations.dataVolumeValidate);
  await mutating(WebhookConfigurations.dataVolumeMutate);
  await mutating(WebhookConfigurations.pvcMutate);
}

/**
 * Runs while this controller leads: keeps the signing key, signers, bundles and leaves current,
 * waking when the next certificate is due (at most every ten minutes, to repair deleted Secrets).
 */
export async function runCertController(opts: CertControllerOptions): Promise<void> {
  const log = opts.logger.child({ component: 'cert-controller' });
  const now = opts.now ?? (() => new Date());
  let first = true;
  while (!opts.signal.aborted) {
    let wait = RetryMs;
    try {
      if (await ensureSigningKey(opts.store)) log.info({}, 'created upload token signing key');
      const result = await syncCertificates({ store: opts.store, specs: opts.specs, now: now(), logger: log, ...(opts.lifetimes ? { lifetimes: opts.lifetimes } : {}) });
      const bundle = result.bundles[ApiServerBundle];
      if (opts.apiServices && bundle) await publishApiServiceCaBundle(opts.apiServices, bundle, log);
      if (opts.webhookConfigurations && bundle) await publishWebhookCaBundle(opts.webhookConfigurations, bundle, log);
      wait = Math.min(Math.max(result.nextRotation.getTime() - now().getTime(), 1000), MaxSleepMs);
    } catch (err) {
      log.error({ err }, 'certificate sync failed; retrying');
    }
    if (first) {
      first = false;
      opts.onFirstPass?.();
    }
    await sleep(wait, undefined, { signal: opts.signal }).catch(() => {});
  }
}
