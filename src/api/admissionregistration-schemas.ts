import { root } from './builtin-schemas.ts';
import { LabelSelectorSchema } from './core-schemas.ts';
import { arr, goType, int, obj, str } from './schema.ts';

/** admissionregistration.k8s.io/v1 ValidatingWebhookConfiguration and MutatingWebhookConfiguration, as Kubernetes 1.32 defines them. */

const strings = (description: string) => arr(str(), { listType: 'atomic', description });

const ServiceReference = goType(
  'v1.ServiceReference',
  obj({ namespace: str(), name: str(), path: str(), port: int({ format: 'int32', description: 'Defaults to 443.' }) }, ['namespace', 'name']),
);

const WebhookClientConfig = goType(
  'v1.WebhookClientConfig',
  obj({
    url: str({ description: 'https://host[:port]/path of the webhook.' }),
    service: ServiceReference,
    caBundle: str({ format: 'byte', description: 'PEM CA bundle that verifies the webhook\'s serving certificate, base64 encoded.' }),
  }),
);

const RuleWithOperations = goType(
  'v1.RuleWithOperations',
  obj({
    operations: strings('CREATE, UPDATE, DELETE, CONNECT or *.'),
    apiGroups: strings('API groups, or *.'),
    apiVersions: strings('API versions, or *.'),
    resources: strings('Resources, resource/subresource, or * forms.'),
    scope: str({ description: 'Cluster, Namespaced or * (the default).' }),
  }),
);

const MatchCondition = goType('v1.MatchCondition', obj({ name: str(), expression: str() }, ['name', 'expression']));

const webhookFields = {
  name: str({ description: 'Fully qualified webhook name.' }),
  clientConfig: WebhookClientConfig,
  rules: arr(RuleWithOperations, { listType: 'atomic' }),
  failurePolicy: str({ description: 'Ignore or Fail (the default).' }),
  matchPolicy: str({ description: 'Exact or Equivalent (the default).' }),
  namespaceSelector: LabelSelectorSchema,
  objectSelector: LabelSelectorSchema,
  sideEffects: str({ description: 'None or NoneOnDryRun.' }),
  timeoutSeconds: int({ format: 'int32', description: '1 to 30 seconds, 10 by default.' }),
  admissionReviewVersions: strings('AdmissionReview versions the webhook accepts, in order of preference.'),
  matchConditions: arr(MatchCondition, { listType: 'map', keys: ['name'], mergeKey: 'name' }),
};

const required = ['name', 'clientConfig', 'sideEffects', 'admissionReviewVersions'] as const;

export const ValidatingWebhookConfigurationSchema = root(
  'v1.ValidatingWebhookConfiguration',
  'ValidatingWebhookConfiguration describes the webhooks that accept or reject objects without changing them.',
  { webhooks: arr(goType('v1.ValidatingWebhook', obj(webhookFields, [...required])), { listType: 'map', keys: ['name'], mergeKey: 'name' }) },
);

export const MutatingWebhookConfigurationSchema = root(
  'v1.MutatingWebhookConfiguration',
  'MutatingWebhookConfiguration describes the webhooks that may change objects, and accept or reject them.',
  {
    webhooks: arr(
      goType('v1.MutatingWebhook', obj({ ...webhookFields, reinvocationPolicy: str({ description: 'Never (the default) or IfNeeded.' }) }, [...required])),
      { listType: 'map', keys: ['name'], mergeKey: 'name' },
    ),
  },
);
