import type { KindInfo, KubeObject } from './kinds.ts';
import { defaultWebhookConfiguration } from './webhooks/config.ts';

/**
 * kube-apiserver's defaulting (the Go types' SetDefaults_*), applied to every written body before
 * admission and storage, as its decoder does, for the built-in kinds listed here.
 */
const defaulters: Record<string, (obj: KubeObject) => void> = {
  'admissionregistration.k8s.io/ValidatingWebhookConfiguration': (obj) => defaultWebhookConfiguration('validating', obj as { webhooks?: unknown }),
  'admissionregistration.k8s.io/MutatingWebhookConfiguration': (obj) => defaultWebhookConfiguration('mutating', obj as { webhooks?: unknown }),
};

export function applyDefaults(info: KindInfo, obj: KubeObject): void {
  if (info.customResource) return;
  defaulters[`${info.group}/${info.kind}`]?.(obj);
}
