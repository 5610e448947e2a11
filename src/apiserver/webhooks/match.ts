import type { Operation } from '../../admission/review.ts';
import type { KubeObject } from '../kinds.ts';
import { labelSelectorMatcher } from '../selectors.ts';
import type { Rule, Webhook } from './config.ts';

/**
 * Which webhooks a request goes to, as kube-apiserver's webhook predicates decide: a rule
 * matching operation, group, version, resource (`*` is every resource but no subresource; a
 * `resource/subresource` pattern may use `*` on either side) and scope; then the namespace selector on the labels of
 * the object's namespace (for a Namespace, its own; ignored for other cluster-scoped objects) and
 * the object selector on the labels of the new or old object. One version per group is served,
 * so matchPolicy Exact and Equivalent agree.
 */
export interface RequestAttributes {
  operation: Operation;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  namespace: string;
  /** The namespace's labels, looked up only when a selector needs them. */
  namespaceLabels: () => Record<string, string> | undefined;
  object?: KubeObject | undefined;
  oldObject?: KubeObject | undefined;
  isNamespace: boolean;
}

const listed = (values: readonly string[] | undefined, value: string) => (values ?? []).some((v) => v === '*' || v === value);

function resourceMatches(patterns: readonly string[] | undefined, resource: string, subresource: string): boolean {
  return (patterns ?? []).some((p) => {
    const [res, sub] = p.split('/', 2) as [string, string | undefined];
    if (sub === undefined) return subresource === '' && (res === '*' || res === resource);
    return (res === '*' || res === resource) && (sub === '*' || sub === subresource);
  });
}

export function ruleMatches(rule: Rule, a: RequestAttributes): boolean {
  if (!listed(rule.operations, a.operation) || !listed(rule.apiGroups, a.group) || !listed(rule.apiVersions, a.version)) return false;
  if (!resourceMatches(rule.resources, a.resource, a.subresource)) return false;
  const scope = rule.scope ?? '*';
  const namespaced = a.namespace !== '';
  return scope === '*' || (scope === 'Namespaced' ? namespaced : !namespaced);
}

export function webhookMatches(w: Webhook, a: RequestAttributes): boolean {
  if (!w.rules.some((r) => ruleMatches(r, a))) return false;
  const bySelector = labelSelectorMatcher(w.objectSelector, 'everything');
  if (![a.object, a.oldObject].some((o) => o !== undefined && bySelector(o))) return false;
  if (a.namespace === '' && !a.isNamespace) return true;
  const byNamespace = labelSelectorMatcher(w.namespaceSelector, 'everything');
  const labels = a.isNamespace ? (a.object ?? a.oldObject)?.metadata?.labels : a.namespaceLabels();
  return byNamespace({ metadata: { labels: labels ?? {} } });
}
