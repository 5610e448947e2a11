import { isDeepStrictEqual } from 'node:util';
import { SourceKinds, type DataVolume, type DataVolumeSpec } from './datavolume.ts';
import { parseQuantity } from './quantity.ts';

/**
 * CDI's DataVolume admission rules (`pkg/apiserver/webhooks/datavolume-validate.go`, `util.go`)
 * with CDI's messages as of upstream's current webhook. Pure: the PVC lookup the create path needs
 * is passed in by the caller. One more rule than upstream: a clone whose source PVC exists must match
 * its content type and be at least its size (upstream leaves that to the clone controller).
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
}

export const WebhookName = 'datavolume-validate.cdi.kubevirt.io';
const AccessModes = ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'];
const MinimumSize = 1024 * 1024;
const MaxNameLength = 253;
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
  if (name.length > MaxNameLength) return [nameTooLong()];
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
  return validateDataVolumeSpec(dv.spec, ctx);
}

const nameTooLong = (): StatusCause => invalid(`Name cannot be longer than ${MaxNameLength} characters`, '');

/** Checkpoint fields may change during a multi-stage (VDDK or ImageIO) import; everything else is immutable. */
function comparableSpec(dv: DataVolume): unknown {
  const spec = { ...(dv.spec ?? {}) };
  if ((spec.source?.vddk || spec.source?.imageio) && spec.checkpoints?.length) {
    delete spec.checkpoints;
    delete spec.finalCheckpoint;
  }
  return JSON.parse(JSON.stringify(spec));
}

export function validateDataVolumeSpec(spec: DataVolumeSpec | undefined, ctx: ValidationContext): StatusCause[] {
  const field = 'spec';
  if (!spec) return [invalid('Missing Data volume PVC', `${field}.PVC`)];
  if (!spec.pvc && !spec.storage) return [invalid('Missing Data volume PVC', `${field}.PVC`)];
  if (spec.pvc && spec.storage) {
    return [invalid('Duplicate storage definition, both target storage and target pvc defined', `${field}.PVC.Storage`)];
  }
  const cloneLike = Boolean(spec.source?.pvc || spec.source?.snapshot || spec.sourceRef);
  const target = spec.pvc ?? spec.storage;
  const size = sizeCause(target?.resources?.requests?.storage, spec.pvc ? 'PVC' : 'Storage', !spec.pvc && cloneLike);
  if (size) return [size];
  if (target?.storageClassName && target.storageClassName.length > MaxNameLength) return [nameTooLong()];
  if (spec.pvc) {
    const modes = spec.pvc.accessModes ?? [];
    if (modes.length === 0) return [invalid('Required value: at least 1 access mode is required', `${field}.PVC.accessModes`)];
    if (modes.length > 1) return [invalid('PVC multiple accessModes', `${field}.PVC.accessModes`)];
    if (!AccessModes.includes(modes[0] ?? '')) return [accessModeCause(modes[0] ?? '')];
  } else if (spec.storage) {
    const bad = (spec.storage.accessModes ?? []).find((m) => !AccessModes.includes(m));
    if (bad !== undefined) return [accessModeCause(bad)];
  }
  if (target?.dataSource || target?.dataSourceRef) return externalPopulationCauses(spec, target.dataSource, target.dataSourceRef);

  if ((!spec.source && !spec.sourceRef) || (spec.source && spec.sourceRef)) {
    return [invalid('Data volume should have either Source or SourceRef, or be externally populated', `${field}.source`)];
  }
  if (spec.sourceRef) return sourceRefCauses(spec);

  const source = spec.source ?? {};
  const count = SourceKinds.filter((k) => source[k] !== undefined && source[k] !== null).length;
  if (count === 0) return [invalid('Missing Data volume source', `${field}.source`)];
  if (count > 1) return [invalid('Multiple Data volume sources', `${field}.source`)];

  const url = source.http?.url ?? source.s3?.url ?? source.gcs?.url ?? source.imageio?.url ?? source.vddk?.url;
  const urlKind = source.http ? 'HTTP' : source.s3 ? 'S3' : source.gcs ? 'GCS' : source.imageio ? 'ImageIO' : source.vddk ? 'VDDK' : '';
  if (source.imageio && (!source.imageio.secretRef || !source.imageio.diskId)) {
    return [invalid(`${field}.source.Imageio source Imageio is not valid`, `${field}.source.Imageio`)];
  }
  if (source.imageio && !source.imageio.certConfigMap && source.imageio.insecureSkipVerify !== true) {
    return [invalid(`${field}.source.Imageio source Imageio requires CertConfigMap or InsecureSkipVerify`, `${field}.source.Imageio`)];
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
  if (source.snapshot && (!source.snapshot.namespace || !source.snapshot.name)) {
    return [invalid(`${field}.source.Snapshot source snapshot is not valid`, `${field}.source.Snapshot`)];
  }
  return [];
}

function sizeCause(size: string | number | undefined, name: 'PVC' | 'Storage', optional: boolean): StatusCause | undefined {
  const path = `spec.${name}.resources.requests.size`;
  if (size === undefined || size === null) return optional ? undefined : invalid(`${name} size is missing`, path);
  const bytes = parseQuantity(size);
  if (bytes === undefined) return invalid(`${name} size is not a valid quantity: ${String(size)}`, path);
  if (bytes <= 0) return invalid(`${name} size can't be equal or less than zero`, path);
  // KubeVirt refuses disks under 1 MiB, so CDI refuses such DataVolumes too.
  if (bytes < MinimumSize) return invalid(`${name} size should be at least 1MiB`, path);
  return undefined;
}

function accessModeCause(mode: string): StatusCause {
  return invalid(
    `Unsupported value: "${mode}": supported values: "ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"`,
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

/** Upstream's `checksum.ParseAndValidate` texts; the algorithm must be lower case, as the importer reads it. */
function checksumProblem(checksum: string): string | undefined {
  const colon = checksum.indexOf(':');
  if (colon < 0) return `invalid checksum format: expected 'algorithm:hash', got '${checksum}'`;
  const algorithm = checksum.slice(0, colon).trim();
  const hash = checksum.slice(colon + 1).trim().toLowerCase();
  if (hash === '') return 'checksum hash value cannot be empty';
  const expected = Object.hasOwn(ChecksumHexLength, algorithm) ? ChecksumHexLength[algorithm] : undefined;
  if (expected === undefined) return `unsupported hash algorithm '${algorithm}': supported algorithms are: md5, sha1, sha256, sha512`;
  if (hash.length !== expected) return `invalid ${algorithm} hash length: expected ${expected} hex characters, got ${hash.length}`;
  const bad = /[^0-9a-f]/.exec(hash)?.[0];
  if (bad !== undefined) {
    const codePoint = `U+${bad.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    return `checksum hash is not valid hexadecimal: encoding/hex: invalid byte: ${codePoint} '${bad}'`;
  }
  return undefined;
}

function checksumCause(checksum: string, path: string): StatusCause | undefined {
  if (checksum === '') return undefined;
  const problem = checksumProblem(checksum);
  return problem ? invalid(`Invalid checksum format: ${problem}`, path) : undefined;
}

/** The DataSource itself is not looked up: one that does not exist yet leaves the DataVolume Pending (upstream PR #3331). */
function sourceRefCauses(spec: DataVolumeSpec): StatusCause[] {
  const ref = spec.sourceRef;
  if (!ref) return [];
  if (!ref.kind) return [invalid('Missing sourceRef kind', 'spec.sourceRef.Kind')];
  if (ref.kind !== 'DataSource') {
    return [invalid(`Unsupported sourceRef kind ${ref.kind}, currently only DataSource is supported`, 'spec.sourceRef.Kind')];
  }
  if (!ref.name) return [invalid('Missing sourceRef name', 'spec.sourceRef.Name')];
  return [];
}

interface ObjectReference {
  apiGroup?: string;
  kind?: string;
  name?: string;
  namespace?: string;
}

/** A DataVolume whose claim names a dataSource/dataSourceRef is filled by that populator, not by CDI. */
function externalPopulationCauses(spec: DataVolumeSpec, dataSource: ObjectReference | undefined, dataSourceRef: ObjectReference | undefined): StatusCause[] {
  const causes: StatusCause[] = [];
  if (spec.source || spec.sourceRef) causes.push(invalid('External population is incompatible with Source and SourceRef', 'spec.source'));
  if (dataSource && dataSourceRef && !isDeepStrictEqual(JSON.parse(JSON.stringify(dataSource)), JSON.parse(JSON.stringify({ ...dataSourceRef, namespace: undefined })))) {
    causes.push(invalid('DataSourceRef and DataSource must match', ''));
  }
  if (dataSource) causes.push(...referenceCauses(dataSource, 'DataSource', 'spec.dataSource'));
  if (dataSourceRef) {
    if (dataSourceRef.namespace) causes.push(invalid('Invalid value: DataSourceRef namespace not supported', 'spec.dataSourceRef.namespace'));
    causes.push(...referenceCauses(dataSourceRef, 'DataSourceRef', 'spec.dataSourceRef'));
  }
  return causes;
}

function referenceCauses(ref: ObjectReference, what: string, path: string): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!ref.name) causes.push(invalid(`Required value: ${what} name`, `${path}.name`));
  if (!ref.kind) causes.push(invalid(`Required value: ${what} kind`, `${path}.kind`));
  if (!ref.apiGroup && ref.kind !== 'PersistentVolumeClaim') causes.push(invalid(`Required value: ${what} apiGroup when kind is not 'PersistentVolumeClaim'`, `${path}.apiGroup`));
  return causes;
}

function sourcePvcCause(
  ref: { namespace: string; name: string },
  spec: DataVolumeSpec,
  path: string,
  ctx: ValidationContext,
): StatusCause | undefined {
  if (!ctx.getPvc) return undefined;
  const source = ctx.getPvc(ref.namespace, ref.name);
  // A source that does not exist yet is no refusal: the DataVolume waits for it (upstream PR #3331).
  if (!source) return undefined;
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
