import type { IncomingMessage } from 'node:http';
import { parse, YAMLParseError } from 'yaml';
import { readBytes } from './http.ts';
import { apiVersionOf, type KindInfo, type KubeObject } from './kinds.ts';
import { FieldManagerMaxLength, managerFromUserAgent } from './managed-fields.ts';
import { ApiError, badRequest, type StatusCause } from './status.ts';

/**
 * The request side of server-side apply and field managers: which manager a write is recorded
 * under, `force`, and the apply body (YAML or JSON), refused as kube-apiserver refuses them.
 */
export const ApplyPatchType = 'application/apply-patch+yaml';

type OptionsKind = 'CreateOptions' | 'UpdateOptions' | 'PatchOptions';

function invalidOptions(kind: OptionsKind, causes: StatusCause[]): ApiError {
  const rendered = causes.map((c) => `${c.field}: ${c.message}`);
  return new ApiError(422, 'Invalid', `${kind}.meta.k8s.io "" is invalid: ${rendered.length === 1 ? rendered[0] : `[${rendered.join(', ')}]`}`, {
    group: 'meta.k8s.io',
    kind,
    causes,
  });
}

export interface ManagerOptions {
  manager: string;
  force: boolean;
}

/** `fieldManager` (or the User-Agent's product) and `force`, validated as ValidatePatchOptions does. */
export function managerOptions(kind: OptionsKind, q: URLSearchParams, userAgent: string | undefined, apply: boolean): ManagerOptions {
  const given = q.get('fieldManager') ?? '';
  const causes: StatusCause[] = [];
  if (kind === 'PatchOptions' && !apply && q.has('force')) causes.push({ reason: 'FieldValueForbidden', field: 'force', message: 'Forbidden: may not be specified for non-apply patch' });
  if (apply && given === '') causes.push({ reason: 'FieldValueRequired', field: 'fieldManager', message: 'Required value: is required for apply patch' });
  if (Buffer.byteLength(given) > FieldManagerMaxLength) {
    causes.push({ reason: 'FieldValueTooLong', field: 'fieldManager', message: `Too long: may not be more than ${FieldManagerMaxLength} bytes` });
  }
  [...given].forEach((ch, i) => {
    if (/\p{C}/u.test(ch)) {
      const code = `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
      causes.push({ reason: 'FieldValueInvalid', field: 'fieldManager', message: `Invalid value: ${JSON.stringify(given)}: invalid character ${code} (at position ${i})` });
    }
  });
  if (causes.length > 0) throw invalidOptions(kind, causes);
  const force = q.get('force');
  if (force !== null && !['', 'true', 'false', '1', '0', 't', 'f', 'T', 'F', 'TRUE', 'FALSE', 'True', 'False'].includes(force)) {
    throw badRequest(`strconv.ParseBool: parsing ${JSON.stringify(force)}: invalid syntax`);
  }
  return { manager: given || managerFromUserAgent(userAgent), force: force !== null && /^(1|t|true)$/i.test(force) };
}

/**
 * An apply body: YAML (JSON is YAML) holding one object with the URL's apiVersion and kind and
 * no managedFields, as kube-apiserver's apply patcher demands.
 */
export async function readApplyPatch(req: IncomingMessage, info: KindInfo): Promise<KubeObject> {
  const text = (await readBytes(req)).toString('utf8');
  let value: unknown;
  try {
    value = parse(text, { maxAliasCount: 100, uniqueKeys: false });
  } catch (err) {
    const message = err instanceof YAMLParseError ? `yaml: line ${err.linePos?.[0].line ?? 1}: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}` : String(err);
    throw badRequest(`error converting YAML to JSON: ${message}`);
  }
  if (value === null || value === undefined) value = {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value === 'number' ? 'number' : typeof value} into Go value of type map[string]interface {}`);
  }
  const obj = value as KubeObject;
  if (obj.metadata?.managedFields !== undefined && obj.metadata.managedFields !== null) throw badRequest('metadata.managedFields must be nil');
  const apiVersion = apiVersionOf(info);
  if (obj.apiVersion !== apiVersion) {
    throw badRequest(`Incorrect version specified in apply patch. Specified patch version: ${typeof obj.apiVersion === 'string' ? obj.apiVersion : ''}, expected: ${apiVersion}`);
  }
  if (obj.kind === undefined || obj.kind === '') throw badRequest(`Object 'Kind' is missing in '${JSON.stringify(obj)}'`);
  if (obj.kind !== info.kind) throw badRequest(`the API version in the data (${apiVersion}) does not match the expected API version (${apiVersion}) or kind ${String(obj.kind)} is not ${info.kind}`);
  return obj;
}
