import type { KindInfo, ObjectMeta } from './kinds.ts';
import { badRequest, type ApiError, type StatusCause } from './status.ts';

/**
 * ObjectMeta as kube-apiserver checks it before anything is stored, in its two steps:
 * decoding (a JSON type that does not fit the Go field is 400 BadRequest, "cannot be handled as
 * a <Kind>: json: cannot unmarshal ...") and ValidateObjectMeta (values: 422 Invalid with field
 * paths). Nothing that fails either is ever committed.
 */

type GoType = 'string' | 'int64' | 'bool' | 'time' | 'stringMap' | 'stringList' | 'ownerRefs' | 'managedFields';

/** Each decoded field's Go type and how decode errors name it. */
const metaFields: Record<string, { type: GoType; go: string }> = {
  name: { type: 'string', go: 'string' },
  generateName: { type: 'string', go: 'string' },
  namespace: { type: 'string', go: 'string' },
  selfLink: { type: 'string', go: 'string' },
  uid: { type: 'string', go: 'types.UID' },
  resourceVersion: { type: 'string', go: 'string' },
  generation: { type: 'int64', go: 'int64' },
  creationTimestamp: { type: 'time', go: 'v1.Time' },
  deletionTimestamp: { type: 'time', go: 'v1.Time' },
  deletionGracePeriodSeconds: { type: 'int64', go: 'int64' },
  labels: { type: 'stringMap', go: 'map[string]string' },
  annotations: { type: 'stringMap', go: 'map[string]string' },
  finalizers: { type: 'stringList', go: '[]string' },
  ownerReferences: { type: 'ownerRefs', go: '[]v1.OwnerReference' },
  managedFields: { type: 'managedFields', go: '[]v1.ManagedFieldsEntry' },
};

const ownerRefFields: Record<string, { type: 'string' | 'bool'; go: string }> = {
  apiVersion: { type: 'string', go: 'string' },
  kind: { type: 'string', go: 'string' },
  name: { type: 'string', go: 'string' },
  uid: { type: 'string', go: 'types.UID' },
  controller: { type: 'bool', go: 'bool' },
  blockOwnerDeletion: { type: 'bool', go: 'bool' },
};

/** The JSON type name Go's decoder reports ("number 1.5" for a fraction into an integer). */
function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

class Decoder {
  private readonly info: KindInfo;

  constructor(info: KindInfo) {
    this.info = info;
  }

  fail(value: unknown, struct: string, path: string, goType: string): ApiError {
    const what = typeof value === 'number' && !Number.isInteger(value) && goType === 'int64' ? `number ${value}` : jsonType(value);
    const { kind, version } = this.info;
    return badRequest(
      `${kind} in version "${version}" cannot be handled as a ${kind}: json: cannot unmarshal ${what} into Go struct field ${struct}.${path} of type ${goType}`,
    );
  }

  scalar(value: unknown, type: 'string' | 'int64' | 'bool' | 'time', struct: string, path: string, go: string): void {
    if (value === null || value === undefined) return;
    const ok =
      type === 'bool' ? typeof value === 'boolean' : type === 'int64' ? typeof value === 'number' && Number.isSafeInteger(value) : typeof value === 'string';
    if (!ok) throw this.fail(value, struct, path, go);
  }

  field(meta: Record<string, unknown>, key: string): void {
    const spec = metaFields[key];
    const value = meta[key];
    if (!spec || value === null || value === undefined) return;
    const path = `metadata.${key}`;
    switch (spec.type) {
      case 'stringMap':
        if (!isPlainObject(value)) throw this.fail(value, 'ObjectMeta', path, spec.go);
        for (const v of Object.values(value)) this.scalar(v, 'string', 'ObjectMeta', path, 'string');
        return;
      case 'stringList':
        if (!Array.isArray(value)) throw this.fail(value, 'ObjectMeta', path, spec.go);
        for (const v of value) this.scalar(v, 'string', 'ObjectMeta', path, 'string');
        return;
      case 'ownerRefs':
        if (!Array.isArray(value)) throw this.fail(value, 'ObjectMeta', path, spec.go);
        for (const ref of value) {
          if (ref === null) continue;
          if (!isPlainObject(ref)) throw this.fail(ref, 'ObjectMeta', path, 'v1.OwnerReference');
          for (const [k, f] of Object.entries(ownerRefFields)) this.scalar(ref[k], f.type, 'OwnerReference', `${path}.${k}`, f.go);
        }
        return;
      case 'managedFields':
        if (!Array.isArray(value)) throw this.fail(value, 'ObjectMeta', path, spec.go);
        for (const entry of value) if (entry !== null && !isPlainObject(entry)) throw this.fail(entry, 'ObjectMeta', path, 'v1.ManagedFieldsEntry');
        return;
      default:
        this.scalar(value, spec.type, 'ObjectMeta', path, spec.go);
    }
  }
}

/**
 * Checks the JSON types of `metadata` (400 on a mismatch) and normalizes what Go's decoder
 * would: null fields and null list entries become absent / zero values.
 */
export function decodeObjectMeta(info: KindInfo, metadata: unknown): ObjectMeta {
  if (metadata === undefined || metadata === null) return {};
  const decoder = new Decoder(info);
  if (!isPlainObject(metadata)) throw decoder.fail(metadata, info.kind, 'metadata', 'v1.ObjectMeta');
  for (const key of Object.keys(metadata)) decoder.field(metadata, key);
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(metadata)) if (v !== null) meta[k] = v;
  for (const key of ['labels', 'annotations'] as const) {
    const map = meta[key] as Record<string, unknown> | undefined;
    if (map) meta[key] = Object.fromEntries(Object.entries(map).map(([k, v]) => [k, v ?? '']));
  }
  if (Array.isArray(meta.finalizers)) meta.finalizers = (meta.finalizers as unknown[]).map((f) => f ?? '');
  if (Array.isArray(meta.ownerReferences)) {
    meta.ownerReferences = (meta.ownerReferences as unknown[]).map((r) => {
      const ref = (r ?? {}) as Record<string, unknown>;
      const out: Record<string, unknown> = { apiVersion: ref.apiVersion ?? '', kind: ref.kind ?? '', name: ref.name ?? '', uid: ref.uid ?? '' };
      if (typeof ref.controller === 'boolean') out.controller = ref.controller;
      if (typeof ref.blockOwnerDeletion === 'boolean') out.blockOwnerDeletion = ref.blockOwnerDeletion;
      return out;
    });
  }
  return meta as ObjectMeta;
}

// The messages of k8s.io/apimachinery/pkg/util/validation, which kubectl users see verbatim.
const qualifiedNameFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const qualifiedName = new RegExp(`^${qualifiedNameFmt}$`);
const labelValueFmt = `(${qualifiedNameFmt})?`;
const labelValue = new RegExp(`^${labelValueFmt}$`);
const dns1123SubdomainFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*';
const dns1123Subdomain = new RegExp(`^${dns1123SubdomainFmt}$`);
/** kube-apiserver's TotalAnnotationSizeLimitB. */
export const TotalAnnotationSizeLimit = 256 * 1024;

function regexError(msg: string, fmt: string, ...examples: string[]): string {
  return `${msg} (e.g. ${examples.map((e) => `'${e}', `).join(' or ')}regex used for validation is '${fmt}')`;
}

const maxLen = (n: number) => `must be no more than ${n} characters`;
const qualifiedNameMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

export function qualifiedNameErrors(value: string): string[] {
  const errs: string[] = [];
  const parts = value.split('/');
  if (parts.length > 2) {
    return [`a qualified name ${regexError(qualifiedNameMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  }
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (prefix === '') errs.push('prefix part must be non-empty');
    else {
      if (prefix.length > 253) errs.push(`prefix part ${maxLen(253)}`);
      if (!dns1123Subdomain.test(prefix)) {
        const msg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
        errs.push(`prefix part ${regexError(msg, dns1123SubdomainFmt, 'example.com')}`);
      }
    }
  }
  if (name === '') errs.push('name part must be non-empty');
  else if (name.length > 63) errs.push(`name part ${maxLen(63)}`);
  if (!qualifiedName.test(name)) errs.push(`name part ${regexError(qualifiedNameMsg, qualifiedNameFmt, 'MyName', 'my.name', '123-abc')}`);
  return errs;
}

function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (value.length > 63) errs.push(maxLen(63));
  if (!labelValue.test(value)) {
    const msg = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
    errs.push(regexError(msg, labelValueFmt, 'MyValue', 'my_value', '12345'));
  }
  return errs;
}

const invalidValue = (field: string, value: string, detail: string): StatusCause => ({
  reason: 'FieldValueInvalid',
  field,
  message: `Invalid value: ${JSON.stringify(value)}: ${detail}`,
});

/** ValidateObjectMeta's value rules for labels, annotations, finalizers and owner references. */
export function objectMetaCauses(meta: ObjectMeta): StatusCause[] {
  const causes: StatusCause[] = [];
  for (const [k, v] of Object.entries(meta.labels ?? {})) {
    for (const msg of qualifiedNameErrors(k)) causes.push(invalidValue('metadata.labels', k, msg));
    for (const msg of labelValueErrors(v)) causes.push(invalidValue('metadata.labels', v, msg));
  }
  let annotationBytes = 0;
  for (const [k, v] of Object.entries(meta.annotations ?? {})) {
    for (const msg of qualifiedNameErrors(k.toLowerCase())) causes.push(invalidValue('metadata.annotations', k, msg));
    annotationBytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (annotationBytes > TotalAnnotationSizeLimit) {
    causes.push({ reason: 'FieldValueTooLong', field: 'metadata.annotations', message: `Too long: must have at most ${TotalAnnotationSizeLimit} bytes` });
  }
  for (const f of meta.finalizers ?? []) for (const msg of qualifiedNameErrors(f)) causes.push(invalidValue('metadata.finalizers', f, msg));
  const controllers: string[] = [];
  for (const ref of meta.ownerReferences ?? []) {
    const path = 'metadata.ownerReferences';
    const gv = ref.apiVersion.split('/');
    if (gv.length > 2) causes.push(invalidValue(`${path}.apiVersion`, ref.apiVersion, `unexpected GroupVersion string: ${ref.apiVersion}`));
    else if (gv[gv.length - 1] === '') causes.push(invalidValue(`${path}.apiVersion`, ref.apiVersion, 'version must not be empty'));
    if (ref.kind === '') causes.push(invalidValue(`${path}.kind`, ref.kind, 'kind must not be empty'));
    if (ref.name === '') causes.push(invalidValue(`${path}.name`, ref.name, 'name must not be empty'));
    if (ref.uid === '') causes.push(invalidValue(`${path}.uid`, ref.uid, 'uid must not be empty'));
    if (ref.controller) controllers.push(`${ref.kind}/${ref.name}`);
  }
  if (controllers.length > 1) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'metadata.ownerReferences',
      message: `Invalid value: ${JSON.stringify(JSON.stringify(meta.ownerReferences))}: Only one reference can have Controller set to true. Found "true" in references for ${controllers.join(' and ')}`,
    });
  }
  return causes;
}
