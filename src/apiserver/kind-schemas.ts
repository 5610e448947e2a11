import {
  ConfigMapSchema,
  EventSchema,
  LeaseSchema,
  NamespaceSchema,
  ObjectMetaFullSchema,
  PersistentVolumeClaimSchema,
  PodSchema,
  SecretSchema,
  ServiceSchema,
  StorageClassSchema,
  UploadTokenRequestSchema,
  VirtualMachineSchema,
  VirtualMachineInstanceSchema,
} from '../api/builtin-schemas.ts';
import {
  ClusterRoleBindingSchema,
  ClusterRoleSchema,
  RoleBindingSchema,
  RoleSchema,
  SelfSubjectAccessReviewSchema,
  SelfSubjectRulesReviewSchema,
  ServiceAccountSchema,
  SubjectAccessReviewSchema,
} from '../api/auth-schemas.ts';
import { MutatingWebhookConfigurationSchema, ValidatingWebhookConfigurationSchema } from '../api/admissionregistration-schemas.ts';
import { crdSpecs, rootSchema } from '../api/crds.ts';
import type { JsonSchema } from '../api/schema.ts';
import type { KindInfo } from './kinds.ts';
import type { KindSchema } from './schema-check.ts';

/**
 * The schema of every served kind: the CRDs' from crds.ts (with the full ObjectMeta, as
 * kube-apiserver publishes them), the built-ins' from builtin-schemas.ts. VirtualMachine is a CRD
 * on a real cluster, so it is checked like one.
 */
const builtins: Record<string, JsonSchema> = {
  Namespace: NamespaceSchema,
  PersistentVolumeClaim: PersistentVolumeClaimSchema,
  Pod: PodSchema,
  Service: ServiceSchema,
  Secret: SecretSchema,
  ConfigMap: ConfigMapSchema,
  Event: EventSchema,
  StorageClass: StorageClassSchema,
  Lease: LeaseSchema,
  UploadTokenRequest: UploadTokenRequestSchema,
  ServiceAccount: ServiceAccountSchema,
  Role: RoleSchema,
  ClusterRole: ClusterRoleSchema,
  RoleBinding: RoleBindingSchema,
  ClusterRoleBinding: ClusterRoleBindingSchema,
  SelfSubjectAccessReview: SelfSubjectAccessReviewSchema,
  SubjectAccessReview: SubjectAccessReviewSchema,
  SelfSubjectRulesReview: SelfSubjectRulesReviewSchema,
  ValidatingWebhookConfiguration: ValidatingWebhookConfigurationSchema,
  MutatingWebhookConfiguration: MutatingWebhookConfigurationSchema,
};

const crds: Record<string, JsonSchema> = {
  ...Object.fromEntries(crdSpecs.map((c) => [c.kind, rootSchema(c.schema)])),
  VirtualMachine: VirtualMachineSchema,
  VirtualMachineInstance: VirtualMachineInstanceSchema,
};

const cache = new Map<string, KindSchema>();

export function kindSchema(info: KindInfo): KindSchema {
  const known = cache.get(info.kind);
  if (known) return known;
  const builtin = builtins[info.kind];
  const crd = crds[info.kind];
  const schema = builtin ?? crd;
  if (!schema) throw new Error(`no schema for kind ${info.kind}`);
  const out: KindSchema = {
    builtin: builtin !== undefined,
    schema: { ...schema, properties: { ...schema.properties, metadata: ObjectMetaFullSchema } },
  };
  cache.set(info.kind, out);
  return out;
}
