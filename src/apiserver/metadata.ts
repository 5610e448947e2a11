import { randomUUID } from 'node:crypto';
import { rfc3339 } from '../api/time.ts';
import { apiVersionOf, type KindInfo, type KubeObject, type ObjectMeta } from './kinds.ts';
import { decodeObjectMeta, objectMetaCauses } from './object-meta.ts';
import { badRequest, invalid, type StatusCause } from './status.ts';

/** What the apiserver itself owns in an object's metadata, on create and on update. */

const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const suffixAlphabet = 'bcdfghjklmnpqrstvwxz2456789';

export const nowTimestamp = (): string => rfc3339();

function randomSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += suffixAlphabet[Math.floor(Math.random() * suffixAlphabet.length)];
  return s;
}

/**
 * Checks apiVersion/kind of a request body against the URL's kind and fills them in when absent;
 * metadata is decoded as kube-apiserver decodes it (400 on a JSON type its Go field cannot take).
 */
export function checkTypeMeta(info: KindInfo, body: unknown): KubeObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be a JSON object');
  const obj = body as KubeObject;
  const apiVersion = apiVersionOf(info);
  if ((obj.kind !== undefined && obj.kind !== info.kind) || (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion)) {
    throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${apiVersion}) or kind ${obj.kind} is not ${info.kind}`);
  }
  obj.apiVersion = apiVersion;
  obj.kind = info.kind;
  obj.metadata = decodeObjectMeta(info, obj.metadata);
  return obj;
}

/** RBAC objects only need names that are valid path segments (`system:discovery`), as ValidateRBACName. */
function pathSegmentCauses(name: string): StatusCause[] {
  const problem = name === '.' || name === '..' ? `may not be '${name}'` : ['/', '%'].find((c) => name.includes(c)) ? `may not contain '${['/', '%'].find((c) => name.includes(c))}'` : undefined;
  return problem ? [{ field: 'metadata.name', message: `Invalid value: "${name}": ${problem}` }] : [];
}

function nameCauses(info: KindInfo, name: string): StatusCause[] {
  if (info.group === 'rbac.authorization.k8s.io') return pathSegmentCauses(name);
  const label = info.kind === 'Namespace' || info.kind === 'Service';
  const ok = label ? dns1123Label.test(name) && name.length <= 63 : dns1123Subdomain.test(name) && name.length <= 253;
  if (ok) return [];
  const what = label ? 'a lowercase RFC 1123 label' : 'a lowercase RFC 1123 subdomain';
  return [
    {
      field: 'metadata.name',
      message: `Invalid value: "${name}": ${what} must consist of lower case alphanumeric characters, '-'${label ? '' : " or '.'"}, and must start and end with an alphanumeric character`,
    },
  ];
}

/** Fills in name (from generateName), namespace, uid, timestamps and generation of a new object. */
export function prepareCreate(info: KindInfo, namespace: string, obj: KubeObject): KubeObject {
  const meta = obj.metadata as ObjectMeta;
  if (info.namespaced) {
    if (meta.namespace !== undefined && meta.namespace !== '' && meta.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    meta.namespace = namespace;
  } else delete meta.namespace;
  if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${randomSuffix()}`;
  if (!meta.name) throw invalid(info, '', [{ field: 'metadata.name', reason: 'FieldValueRequired', message: 'Required value: name or generateName is required' }]);
  const causes = [...nameCauses(info, meta.name), ...objectMetaCauses(meta)];
  if (causes.length) throw invalid(info, meta.name, causes);
  meta.uid = randomUUID();
  meta.creationTimestamp = nowTimestamp();
  // kube-apiserver keeps generation for custom resources only among the kinds served here.
  if (info.customResource) meta.generation = 1;
  else delete meta.generation;
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.resourceVersion;
  delete meta.managedFields;
  if (meta.finalizers?.length === 0) delete meta.finalizers;
  return obj;
}

/** Everything but metadata and status: what `generation` counts changes of. */
export function specOf(obj: KubeObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

/**
 * Builds the stored object of an update: the main resource takes everything but status, the
 * status subresource takes only status; identity and server-owned metadata are always kept.
 */
export function prepareUpdate(info: KindInfo, old: KubeObject, incoming: KubeObject, subresource: 'status' | undefined): KubeObject {
  const hasStatus = info.subresources.includes('status');
  let next: KubeObject;
  if (subresource === 'status') {
    next = { ...old, status: incoming.status };
    if (incoming.status === undefined) delete next.status;
  } else {
    next = { ...incoming, metadata: { ...incoming.metadata } };
    if (hasStatus) {
      if (old.status === undefined) delete next.status;
      else next.status = old.status;
    }
  }
  const oldMeta = old.metadata as ObjectMeta;
  const meta = { ...(next.metadata as ObjectMeta) };
  meta.name = oldMeta.name;
  if (info.namespaced) meta.namespace = oldMeta.namespace;
  meta.uid = oldMeta.uid;
  meta.creationTimestamp = oldMeta.creationTimestamp;
  if (info.customResource) meta.generation = oldMeta.generation ?? 1;
  else delete meta.generation;
  delete meta.generateName;
  if (oldMeta.generateName) meta.generateName = oldMeta.generateName;
  if (oldMeta.deletionTimestamp) {
    meta.deletionTimestamp = oldMeta.deletionTimestamp;
    meta.deletionGracePeriodSeconds = oldMeta.deletionGracePeriodSeconds ?? 0;
  } else {
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
  }
  delete meta.managedFields;
  if (meta.finalizers?.length === 0) delete meta.finalizers;
  const causes = objectMetaCauses(meta);
  if (causes.length) throw invalid(info, meta.name ?? '', causes);
  next.metadata = meta;
  next.apiVersion = old.apiVersion;
  next.kind = old.kind;
  if (info.customResource && specOf(next) !== specOf(old)) meta.generation = (oldMeta.generation ?? 1) + 1;
  return next;
}

/** True when an update would change nothing but resourceVersion: no write, no event. */
export function unchanged(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return strip(a) === strip(b);
}
