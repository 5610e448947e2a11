import type { DataSource } from './datasource.ts';
import type { DataVolume } from './datavolume.ts';

/**
 * Who may clone a PVC of another namespace, as CDI decides it (containerized-data-importer-api
 * `AuthorizeUser` / `CanUserClonePVC`): a DataVolume whose source is a PVC (directly or through a
 * DataSource) in a namespace other than its own is allowed only when the requesting user may
 * `create` `datavolumes/source` (cdi.kubevirt.io), or else `create` `pods`, on that PVC in the
 * source namespace. Pure: the caller supplies the access check (a SubjectAccessReview on a
 * cluster, the embedded authorizer in `cdi serve`) and the DataSource lookup.
 */
export interface AccessCheck {
  namespace: string;
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name: string;
}

export type CloneAuthorization = { allowed: true } | { allowed: false; reason: string; field: string };

export interface CloneAuthorizationContext {
  /** The namespace the DataVolume is created in. */
  namespace: string;
  username: string;
  canI: (check: AccessCheck) => boolean | Promise<boolean>;
  getDataSource: (namespace: string, name: string) => DataSource | undefined;
}

export const CloneSourceSubresource = 'source';
export const CloneDenialField = 'spec.source.PVC.namespace';

/** The PVC a DataVolume clones from, if any. */
export function cloneSourceOf(dv: DataVolume, namespace: string, getDataSource: CloneAuthorizationContext['getDataSource']): { namespace: string; name: string } | undefined {
  const pvc = dv.spec?.source?.pvc;
  if (pvc) return { namespace: pvc.namespace || namespace, name: pvc.name };
  const ref = dv.spec?.sourceRef;
  if (ref?.kind !== 'DataSource') return undefined;
  const refNamespace = ref.namespace || namespace;
  const source = getDataSource(refNamespace, ref.name)?.spec?.source?.pvc;
  return source ? { namespace: source.namespace || refNamespace, name: source.name } : undefined;
}

export async function authorizeClone(dv: DataVolume, ctx: CloneAuthorizationContext): Promise<CloneAuthorization> {
  const source = cloneSourceOf(dv, ctx.namespace, ctx.getDataSource);
  if (!source || source.namespace === ctx.namespace) return { allowed: true };
  const checks: AccessCheck[] = [
    { namespace: source.namespace, verb: 'create', group: 'cdi.kubevirt.io', resource: 'datavolumes', subresource: CloneSourceSubresource, name: source.name },
    { namespace: source.namespace, verb: 'create', group: '', resource: 'pods', name: source.name },
  ];
  for (const check of checks) if (await ctx.canI(check)) return { allowed: true };
  return { allowed: false, reason: `User ${ctx.username} has insufficient permissions in clone source namespace ${source.namespace}`, field: CloneDenialField };
}
