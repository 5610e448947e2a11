import { DataSourceReason } from '../api/conditions.ts';
import type { DataSource } from '../api/datasource.ts';

/**
 * Upstream's ResolveDataSourceChain: a DataSource may point at one other DataSource in its own
 * namespace, which must point at a PVC or a snapshot (depth 1; loops are refused as self
 * references or as exceeding the depth). The reasons and messages are upstream's.
 */
export type ChainResult = { resolved: DataSource } | { reason: string; message: string };

export function resolveDataSourceChain(ds: DataSource, get: (name: string, namespace: string) => DataSource | undefined): ChainResult {
  const ref = ds.spec?.source?.dataSource;
  if (!ref) return { resolved: ds };
  const ns = ds.metadata?.namespace ?? 'default';
  const refNs = ref.namespace || ns;
  if (refNs !== ns) return { reason: DataSourceReason.CrossNamespaceReference, message: 'DataSource cannot reference a DataSource in another namespace' };
  if (ref.name === ds.metadata?.name) return { reason: DataSourceReason.SelfReference, message: 'DataSource cannot self-reference' };
  const target = get(ref.name, refNs);
  if (!target) return { reason: DataSourceReason.NotFound, message: `datasources.cdi.kubevirt.io "${ref.name}" not found` };
  if (target.spec?.source?.dataSource) return { reason: DataSourceReason.MaxReferenceDepthReached, message: 'DataSource reference chain exceeds maximum depth of 1' };
  return { resolved: target };
}
