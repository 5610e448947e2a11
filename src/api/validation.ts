import { isDeepStrictEqual } from 'node:util';
import { ApiVersion, SourceKinds, type DataVolume, type DataVolumeSpec } from './datavolume.ts';
import type { DataSource } from './datasource.ts';
import { parseQuantity } from './quantity.ts';

/**
 * CDI's DataVolume admission rules (`pkg/apiserver/webhooks/datavolume-validate.go`, `util.go`)
 * with CDI's messages. Pure: lookups the create path needs are passed in by the caller.
 */
export interface StatusCause {
  reason: 'FieldValueInvalid' | 'FieldValueRequired' | 'FieldValueDuplicate' | 'FieldValueNotFound';
  message: string;
  field: string;
}

export interface ClaimLike {
  metadata?: { annotations?: Record<string, string>; ownerReferences?: Array<{ kind: string; controller?: boolean }> };
  spec?: { resources?: { requests?: Record<string, string | number> } };
}

export interface ValidationContext {
  operation: 'CREATE' | 'UPDATE';
  oldObject?: DataVolume;
  getPvc?: (namespace: string, name: string) => ClaimLike | undefined;
  getDataSource?: (namespace: string, name: string) => DataSource | undefined;
}

export const WebhookName = 'datavolume-validate.cdi.kubevirt.io';
const AccessModes = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany'];
const Checksum = /^(md5|sha1|sha256|sha512):([0-9a-fA-F]+)$/;
const ChecksumHexLength: Record<string, number> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 };

const invalid = (message: string, field: string): StatusCause => ({ reason: 'FieldValueInvalid', message, field });

/** Kubernetes' rendering of a webhook denial: `admission webhook "…" denied the request: <causes>`. */
export function admissionDeniedMessage(causes: readonly StatusCause[]): string {
  return `admission webhook "${WebhookName}" denied the request: ${causes.map((c) => ` ${c.message}`).join('')}`;
}

export function validateDataVolume(dv: DataVolume, ctx: ValidationContext = { operation: 'CREATE' }): StatusCause[] {
  if (ctx.operation === 'UPDATE' && ctx.oldObject && !isDeepStrictEqual(comparableSpec(dv), comparableSpec(ctx.oldObject))) {
    return [{ reason: 'FieldValueDuplicate', message: 'Cannot update DataVolume Spec', field: 'DataVolume.Spec' }];
  }
  const name = dv.metadata?.name ?? '';
  if (name.length > 253) return [invalid('Name of data volume cannot be more than 253 characters', '')];
  const namespace = dv.metadata?.namespace ?? 'default';
  if (ctx.operation === 'CREATE' && ctx.getPvc && name) {
    const existing = ctx.getPvc(namespace, name);
    if (existing && existing.metadata?.annotations?.['cdi.kubevirt.io/storage.populatedFor'] !== name) {
      const owner = existing.metadata?.ownerReferences?.find((o) => o.controller);
      const adoption = dv.metadata?.annotations?.['cdi.kubevirt.io/allowClaimAdoption'] === 'true';
      if ((!owner || owner.kind !== 'DataVolume') && !adoption) {
        return [{ reason: 'FieldValueDuplicate', message: `Destination PVC ${namespace}/${name} already exists`, field: 'DataVolume.Name' }];
      }
    }
  }
  return validateDataVolumeSpec(dv.spec, namespace, ctx);
}

/** Checkpoint fields may change during a multi-stage import; everything else is immutable. */
function comparableSpec(dv: DataVolume): unknown {
  const spec = { ...(dv.spec ?? {}) };
  if (spec.source?.vddk && spec.checkpoints?.length) {
    delete spec.checkpoints;
    delete spec.finalCheckpoint;
  }
  return JSON.parse(JSON.stringify(spec));
}

export function validateDataVolumeSpec(spec: DataVolumeSpec | undefined, namespace: string, ctx: ValidationContext): StatusCause[] {
  const field = 'spec';
  if (!spec) return [invalid('Missing Data volume PVC', `${field}.PVC`)];
  if (!spec.pvc && !spec.storage) return [invalid('Missing Data volume PVC', `${field}.PVC`)];
  if (spec.pvc && spec.storage) {
    return [invalid('Duplicate storage definition, both target storage and target pvc defined', `${field}.PVC.Storage`)];
  }
  const cloneLike = Boolean(spec.source?.pvc || spec.source?.snapshot || spec.sourceRef);
  if (spec.pvc) {
    const size = sizeCause(spec.pvc.resources?.requests?.storage, 'PVC', false);
    if (size) return [size];
    const modes = spec.pvc.accessModes ?? [];
    if (modes.length === 0) return [invalid('Required value: at least 1 access mode is required', `${field}.PVC.accessModes`)];
    if (modes.length > 1) return [invalid('PVC multiple accessModes', `${field}.PVC.accessModes`)];
    if (!AccessModes.includes(modes[0] ?? '')) return [accessModeCause(modes[0] ?? '')];
  } else if (spec.storage) {
    const size = sizeCause(spec.storage.resources?.requests?.storage, 'Storage', cloneLike);
    if (size) return [size];
    const bad = (spec.storage.accessModes ?? []).find((m) => !AccessModes.includes(m));
    if (bad !== undefined) return [accessModeCause(bad)];
  }

  if ((!spec.source && !spec.sourceRef) || (spec.source && spec.sourceRef)) {
    return [invalid('Data volume should have either Source or SourceRef', `${field}.source`)];
  }
  if (spec.sourceRef) return sourceRefCauses(spec, namespace, ctx);

  const source = spec.source ?? {};
  const count = SourceKinds.filter((k) => source[k] !== undefined && source[k] !== null).length;
  if (count === 0) return [invalid('Missing Data volume source', `${field}.source`)];
  if (count > 1) return [invalid('Multiple Data volume sources', `${field}.source`)];

  const url = source.http?.url ?? source.s3?.url ?? source.gcs?.url ?? source.imageio?.url ?? source.vddk?.url;
  const urlKind = source.http ? 'HTTP' : source.s3 ? 'S3' : source.gcs ? 'GCS' : source.imageio ? 'ImageIO' : source.vddk ? 'VDDK' : '';
  if (source.imageio && (!source.imageio.secretRef || !source.imageio.certConfigMap || !source.imageio.diskId)) {
    return [invalid(`${field}.source.Imageio source Imageio is not valid`, `${field}.source.Imageio`)];
  }
  if (source.vddk && (!source.vddk.secretRef || !source.vddk.uuid || !source.vddk.backingFile || !source.vddk.thumbprint)) {
    return [invalid(`${field}.source.VDDK source VDDK is not valid`, `${field}.source.VDDK`)];
  }
  if (urlKind) {
    const err = sourceUrlError(url ?? '');
    if (err) return [invalid(`${field}.source ${err}`, `${field}.source.${urlKind}.url`)];
  }

  if (spec.contentType && spec.contentType !== 'kubevirt' && spec.contentType !== 'archive') {
    return [invalid('ContentType not one of: kubevirt, archive', `${field}.contentType`)];
  }
  if (source.blank && spec.contentType === 'archive') {
    return [invalid('SourceType cannot be blank and the contentType be archive', `${field}.contentType`)];
  }
  if (source.registry) {
    const causes = registryCauses(spec, field);
    if (causes.length) return causes;
  }
  if (source.http?.checksum !== undefined) {
    const cause = checksumCause(source.http.checksum, `${field}.source.HTTP.checksum`);
    if (cause) return [cause];
  }
  if (source.pvc) {
    if (!source.pvc.namespace || !source.pvc.name) {
      return [invalid(`${field}.source.PVC source PVC is not valid`, `${field}.source.PVC`)];
    }
    if (ctx.operation === 'CREATE') {
      const cause = sourcePvcCause(source.pvc, spec, `${field}.source.PVC`, ctx);
      if (cause) return [cause];
    }
  }
  return [];
}

function sizeCause(size: string | number | undefined, name: 'PVC' | 'Storage', optional: boolean): StatusCause | undefined {
  const path = `spec.${name}.resources.requests.size`;
  if (size === undefined || size === null) return optional ? undefined : invalid(`${name} size is missing`, path);
  const bytes = parseQuantity(size);
  if (bytes === undefined) return invalid(`${name} size is not a valid quantity: ${String(size)}`, path);
  if (bytes <= 0) return invalid(`${name} size can't be equal or less than zero`, path);
  return undefined;
}

function accessModeCause(mode: string): StatusCause {
  return invalid(
    `Unsupported value: "${mode}": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce"`,
    'spec.PVC.accessModes',
  );
}

/** Go's `url.ParseRequestURI` plus CDI's scheme rule. */
function sourceUrlError(url: string): string | undefined {
  if (url === '') return 'source URL is empty';
  let parsed: URL;
  try {
    if (!/^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(url) && !url.startsWith('/')) throw new Error('relative');
    parsed = new URL(url);
  } catch {
    return `Invalid source URL: ${url}`;
  }
  const scheme = parsed.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https' && scheme !== 'gs') return `Invalid source URL scheme: ${url}`;
  return undefined;
}

function registryCauses(spec: DataVolumeSpec, field: string): StatusCause[] {
  const registry = spec.source?.registry ?? {};
  if (spec.contentType && spec.contentType !== 'kubevirt') {
    return [invalid('ContentType must be kubevirt when Source is Registry', `${field}.contentType`)];
  }
  const hasUrl = registry.url !== undefined && registry.url !== null;
  const hasStream = registry.imageStream !== undefined && registry.imageStream !== null;
  if (hasUrl === hasStream) return [invalid('Source registry should have either URL or ImageStream', `${field}.source.Registry`)];
  if (hasUrl) {
    const url = registry.url ?? '';
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
    if (/[\s<>{}|\\^`]/.test(url)) return [invalid(`Illegal registry source URL ${url}`, `${field}.source.Registry.URL`)];
    if (scheme !== 'docker' && scheme !== 'oci-archive') {
      return [invalid(`Illegal registry source URL scheme ${url}`, `${field}.source.Registry.URL`)];
    }
  }
  const method = registry.pullMethod as string | undefined;
  if (method !== undefined && method !== 'pod' && method !== 'node') {
    return [invalid(`ImportMethod ${method} is neither pod, node or ""`, `${field}.source.Registry.importMethod`)];
  }
  if (hasStream && registry.imageStream === '') {
    return [invalid('Source registry ImageStream is not valid', `${field}.source.Registry.importMethod`)];
  }
  if (hasStream && method !== 'node') {
    return [
      invalid('Source registry ImageStream is supported only with node pull import method', `${field}.source.Registry.importMethod`),
    ];
  }
  return [];
}

function checksumCause(checksum: string, path: string): StatusCause | undefined {
  const m = Checksum.exec(checksum);
  if (!m || m[2]?.length !== ChecksumHexLength[m[1] ?? '']) {
    return invalid(
      `Invalid checksum ${checksum}: want algorithm:hex with algorithm one of md5, sha1, sha256, sha512 and a hex digest of its length`,
      path,
    );
  }
  return undefined;
}

function sourceRefCauses(spec: DataVolumeSpec, namespace: string, ctx: ValidationContext): StatusCause[] {
  const ref = spec.sourceRef;
  if (!ref) return [];
  if (!ref.kind) return [invalid('Missing sourceRef kind', 'spec.sourceRef.Kind')];
  if (ref.kind !== 'DataSource') {
    return [invalid(`Unsupported sourceRef kind ${ref.kind}, currently only DataSource is supported`, 'spec.sourceRef.Kind')];
  }
  if (!ref.name) return [invalid('Missing sourceRef name', 'spec.sourceRef.Name')];
  if (ctx.operation !== 'CREATE' || !ctx.getDataSource) return [];
  const ns = ref.namespace || namespace;
  const ds = ctx.getDataSource(ns, ref.name);
  if (!ds) {
    return [
      {
        reason: 'FieldValueNotFound',
        message: `SourceRef ${ref.kind}/${ns}/${ref.name} doesn't exist, datasources.${ApiVersion.split('/')[0]} "${ref.name}" not found`,
        field: 'spec.sourceRef',
      },
    ];
  }
  const pvc = ds.spec?.source?.pvc;
  if (!pvc) return [];
  const cause = sourcePvcCause({ namespace: pvc.namespace || ns, name: pvc.name }, spec, 'spec.sourceRef', ctx);
  return cause ? [cause] : [];
}

function sourcePvcCause(
  ref: { namespace: string; name: string },
  spec: DataVolumeSpec,
  path: string,
  ctx: ValidationContext,
): StatusCause | undefined {
  if (!ctx.getPvc) return undefined;
  const source = ctx.getPvc(ref.namespace, ref.name);
  if (!source) {
    return {
      reason: 'FieldValueNotFound',
      message: `Source PVC ${ref.namespace}/${ref.name} doesn't exist, persistentvolumeclaims "${ref.name}" not found`,
      field: path,
    };
  }
  const sourceType = source.metadata?.annotations?.['cdi.kubevirt.io/storage.contentType'] || 'kubevirt';
  const targetType = spec.contentType || 'kubevirt';
  if (sourceType !== targetType) {
    return invalid(`Source contentType (${sourceType}) and target contentType (${targetType}) do not match`, path);
  }
  const sourceSize = parseQuantity(source.spec?.resources?.requests?.storage);
  const target = (spec.pvc ?? spec.storage)?.resources?.requests?.storage;
  const targetSize = parseQuantity(target);
  if (sourceSize !== undefined && targetSize !== undefined && targetSize < sourceSize) {
    return invalid('target resources requests storage size is smaller than the source', path);
  }
  return undefined;
}
