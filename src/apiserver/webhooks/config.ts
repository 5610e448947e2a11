import type { LabelSelector } from '../selectors.ts';
import type { StatusCause } from '../status.ts';

/**
 * Webhooks as the admissionregistration.k8s.io/v1 configurations declare them, with v1's
 * defaults filled in, and kube-apiserver's validation of a configuration (what it would refuse
 * with 422). cdi serve refuses the two fields it does not act on, matchConditions (CEL) and
 * reinvocationPolicy IfNeeded, instead of storing them and ignoring them.
 */
export interface Rule {
  operations?: string[];
  apiGroups?: string[];
  apiVersions?: string[];
  resources?: string[];
  scope?: string;
}

export interface WebhookSpec {
  name: string;
  clientConfig: { url?: string; service?: { namespace: string; name: string; path?: string; port?: number }; caBundle?: string };
  rules?: Rule[];
  failurePolicy?: string;
  matchPolicy?: string;
  namespaceSelector?: LabelSelector;
  objectSelector?: LabelSelector;
  sideEffects?: string;
  timeoutSeconds?: number;
  admissionReviewVersions?: string[];
  matchConditions?: unknown[];
  reinvocationPolicy?: string;
}

export type WebhookKind = 'validating' | 'mutating';

export interface Webhook extends WebhookSpec {
  kind: WebhookKind;
  /** The configuration that declares it. */
  configuration: string;
  failurePolicy: 'Fail' | 'Ignore';
  timeoutSeconds: number;
  namespaceSelector: LabelSelector;
  objectSelector: LabelSelector;
  rules: Rule[];
}

export const DefaultTimeoutSeconds = 10;
const DefaultServicePort = 443;

/**
 * admissionregistration/v1's SetDefaults_* written into a configuration before it is admitted and
 * stored, so it reads back as kube-apiserver stores it: failurePolicy Fail, matchPolicy
 * Equivalent, empty namespace and object selectors, timeoutSeconds 10, reinvocationPolicy Never
 * (mutating), each rule's scope "*" and a service reference's port 443. sideEffects and
 * admissionReviewVersions have no v1 default: they are required (validateWebhookConfiguration).
 */
export function defaultWebhookConfiguration(kind: WebhookKind, configuration: { webhooks?: unknown }): void {
  if (!Array.isArray(configuration.webhooks)) return;
  for (const w of configuration.webhooks as Array<Partial<WebhookSpec> | null>) {
    if (w === null || typeof w !== 'object') continue;
    w.failurePolicy ??= 'Fail';
    w.matchPolicy ??= 'Equivalent';
    w.namespaceSelector ??= {};
    w.objectSelector ??= {};
    w.timeoutSeconds ??= DefaultTimeoutSeconds;
    if (kind === 'mutating') w.reinvocationPolicy ??= 'Never';
    if (Array.isArray(w.rules)) for (const r of w.rules) if (r !== null && typeof r === 'object') r.scope ??= '*';
    const service = w.clientConfig?.service;
    if (service !== null && typeof service === 'object') service.port ??= DefaultServicePort;
  }
}

export function webhooksOf(kind: WebhookKind, configuration: { metadata?: { name?: string }; webhooks?: unknown }): Webhook[] {
  const specs = Array.isArray(configuration.webhooks) ? (configuration.webhooks as WebhookSpec[]) : [];
  return specs.map((w) => ({
    ...w,
    kind,
    configuration: configuration.metadata?.name ?? '',
    failurePolicy: w.failurePolicy === 'Ignore' ? 'Ignore' : 'Fail',
    timeoutSeconds: w.timeoutSeconds ?? DefaultTimeoutSeconds,
    namespaceSelector: w.namespaceSelector ?? {},
    objectSelector: w.objectSelector ?? {},
    rules: w.rules ?? [],
  }));
}

const oneOf = (field: string, value: unknown, allowed: readonly string[]): StatusCause[] =>
  value === undefined || allowed.includes(String(value))
    ? []
    : [{ reason: 'FieldValueNotSupported', field, message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${allowed.map((a) => `"${a}"`).join(', ')}` }];

/** kube-apiserver's ValidateValidatingWebhookConfiguration / ValidateMutatingWebhookConfiguration, narrowed to what cdi serve acts on. */
export function validateWebhookConfiguration(kind: WebhookKind, configuration: { webhooks?: unknown }): StatusCause[] {
  const causes: StatusCause[] = [];
  const specs = Array.isArray(configuration.webhooks) ? (configuration.webhooks as WebhookSpec[]) : [];
  const seen = new Set<string>();
  specs.forEach((w, i) => {
    const at = `webhooks[${i}]`;
    if (!w.name || w.name.split('.').length < 3) causes.push({ reason: 'FieldValueInvalid', field: `${at}.name`, message: `Invalid value: ${JSON.stringify(w.name ?? '')}: should be a domain with at least three segments separated by dots` });
    else if (seen.has(w.name)) causes.push({ reason: 'FieldValueDuplicate', field: `${at}.name`, message: `Duplicate value: ${JSON.stringify(w.name)}` });
    seen.add(w.name);
    const client = w.clientConfig ?? {};
    if ((client.url === undefined) === (client.service === undefined)) {
      causes.push({ reason: 'FieldValueRequired', field: `${at}.clientConfig`, message: 'Required value: exactly one of url or service is required' });
    }
    if (client.url !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(client.url);
      } catch {
        causes.push({ reason: 'FieldValueInvalid', field: `${at}.clientConfig.url`, message: `Invalid value: ${JSON.stringify(client.url)}: host must be specified` });
      }
      if (url && url.protocol !== 'https:') causes.push({ reason: 'FieldValueInvalid', field: `${at}.clientConfig.url`, message: `Invalid value: ${JSON.stringify(url.protocol.slice(0, -1))}: 'https' is the only allowed URL scheme` });
    }
    if (!w.sideEffects) causes.push({ reason: 'FieldValueRequired', field: `${at}.sideEffects`, message: 'Required value: must specify one of None, NoneOnDryRun' });
    else causes.push(...oneOf(`${at}.sideEffects`, w.sideEffects, ['None', 'NoneOnDryRun']));
    if (!w.admissionReviewVersions?.length) causes.push({ reason: 'FieldValueRequired', field: `${at}.admissionReviewVersions`, message: 'Required value: must specify one of v1, v1beta1' });
    else if (!w.admissionReviewVersions.some((v) => v === 'v1' || v === 'v1beta1')) {
      causes.push({ reason: 'FieldValueInvalid', field: `${at}.admissionReviewVersions`, message: `Invalid value: ${JSON.stringify(w.admissionReviewVersions)}: must include at least one of v1, v1beta1` });
    }
    causes.push(...oneOf(`${at}.failurePolicy`, w.failurePolicy, ['Fail', 'Ignore']));
    causes.push(...oneOf(`${at}.matchPolicy`, w.matchPolicy, ['Equivalent', 'Exact']));
    if (w.timeoutSeconds !== undefined && (w.timeoutSeconds < 1 || w.timeoutSeconds > 30)) {
      causes.push({ reason: 'FieldValueInvalid', field: `${at}.timeoutSeconds`, message: `Invalid value: ${w.timeoutSeconds}: the timeout value must be between 1 and 30 seconds` });
    }
    (w.rules ?? []).forEach((r, j) => {
      causes.push(...oneOf(`${at}.rules[${j}].scope`, r.scope, ['Cluster', 'Namespaced', '*']));
      for (const op of r.operations ?? []) causes.push(...oneOf(`${at}.rules[${j}].operations`, op, ['*', 'CREATE', 'UPDATE', 'DELETE', 'CONNECT']));
    });
    if (w.matchConditions?.length) causes.push({ reason: 'FieldValueForbidden', field: `${at}.matchConditions`, message: 'Forbidden: matchConditions (CEL) are not supported by cdi serve' });
    if (kind === 'mutating') {
      causes.push(...oneOf(`${at}.reinvocationPolicy`, w.reinvocationPolicy, ['Never', 'IfNeeded']));
      if (w.reinvocationPolicy === 'IfNeeded') causes.push({ reason: 'FieldValueForbidden', field: `${at}.reinvocationPolicy`, message: 'Forbidden: reinvocationPolicy IfNeeded is not supported by cdi serve; use Never' });
    }
  });
  return causes;
}
