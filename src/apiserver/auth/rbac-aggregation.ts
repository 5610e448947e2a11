import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../../api/logger.ts';
import type { KubeObject } from '../kinds.ts';
import type { ObjectService } from '../objects.ts';
import { labelSelectorMatcher, type LabelSelector } from '../selectors.ts';
import { rbacKinds, type RbacAuthorizer } from './rbac-authorizer.ts';
import type { PolicyRule } from './rbac-rules.ts';

/**
 * The ClusterRole aggregation controller (kube-controller-manager's clusterrole-aggregation): a
 * ClusterRole with `aggregationRule.clusterRoleSelectors` gets as its rules the union of the
 * rules of every other ClusterRole its selectors match, rewritten whenever one of them changes.
 */
export function aggregatedRules(role: KubeObject, all: Iterable<KubeObject>): PolicyRule[] | undefined {
  const selectors = (role.aggregationRule as { clusterRoleSelectors?: LabelSelector[] } | undefined)?.clusterRoleSelectors;
  if (!selectors?.length) return undefined;
  const matchers = selectors.map((s) => labelSelectorMatcher(s, 'nothing'));
  const sources = [...all].filter((r) => r.metadata?.name !== role.metadata?.name && matchers.some((m) => m(r)));
  sources.sort((a, b) => (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  const rules: PolicyRule[] = [];
  for (const source of sources) for (const rule of (source.rules as PolicyRule[] | undefined) ?? []) if (!rules.some((r) => isDeepStrictEqual(r, rule))) rules.push(rule);
  return rules;
}

export function startClusterRoleAggregation(service: ObjectService, rbac: RbacAuthorizer, log: Logger): () => void {
  let scheduled = false;
  const reconcile = (): void => {
    scheduled = false;
    for (const role of rbac.clusterRoles.values()) {
      const rules = aggregatedRules(role, rbac.clusterRoles.values());
      if (!rules || isDeepStrictEqual(rules, role.rules ?? [])) continue;
      try {
        service.update(rbacKinds.clusterRoles, undefined, role.metadata!.name!, { ...role, rules, metadata: { ...role.metadata, resourceVersion: undefined } });
      } catch (err) {
        log.error({ err, clusterRole: role.metadata!.name }, 'cannot aggregate ClusterRole');
      }
    }
  };
  // Writes happen off the watch callback, coalesced, so they never recurse into the event that caused them.
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(reconcile);
  };
  const unsubscribe = service.hub.subscribe((e) => {
    if (e.resource === `${rbacKinds.clusterRoles.group}/${rbacKinds.clusterRoles.plural}`) schedule();
  });
  reconcile();
  return unsubscribe;
}
