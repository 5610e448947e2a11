import { isDeepStrictEqual } from 'node:util';

/**
 * admission.k8s.io/v1 AdmissionReview, as kube-apiserver sends it to a webhook and reads the
 * answer: the request's shape, the webhook's responses (allowed, refused with causes, failed,
 * allowed with a JSONPatch) and the parsing of a review body, whose faults are the caller's.
 */
export const AdmissionApiVersion = 'admission.k8s.io/v1';

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

export interface AdmissionUserInfo {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource: GroupVersionResource;
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: Operation;
  userInfo: AdmissionUserInfo;
  object?: unknown;
  oldObject?: unknown;
  dryRun?: boolean;
}

export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

export interface AdmissionStatus {
  code: number;
  message: string;
  details?: { causes: StatusCause[] };
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: AdmissionStatus;
  patch?: string;
  patchType?: 'JSONPatch';
}

export interface AdmissionReview {
  apiVersion: string;
  kind: 'AdmissionReview';
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

/** A review body that cannot be answered as a review of something: the caller's fault (400). */
export class AdmissionInputError extends Error {}

const Operations: readonly string[] = ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'];
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses an AdmissionReview body (text or decoded JSON) down to its request. */
export function parseAdmissionReview(body: unknown): AdmissionRequest {
  let review: unknown = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      review = JSON.parse(body.toString());
    } catch (err) {
      throw new AdmissionInputError(`couldn't decode the AdmissionReview: ${(err as Error).message}`);
    }
  }
  if (!isObject(review)) throw new AdmissionInputError('the body is not an AdmissionReview object');
  if (review.kind !== 'AdmissionReview' || review.apiVersion !== AdmissionApiVersion) {
    throw new AdmissionInputError(`expected ${AdmissionApiVersion} AdmissionReview, got ${String(review.apiVersion)} ${String(review.kind)}`);
  }
  const request = review.request;
  if (!isObject(request)) throw new AdmissionInputError('AdmissionReview.Request is nil');
  if (typeof request.uid !== 'string' || request.uid === '') throw new AdmissionInputError('AdmissionReview.request.uid is required');
  if (typeof request.operation !== 'string' || !Operations.includes(request.operation)) {
    throw new AdmissionInputError(`AdmissionReview.request.operation ${JSON.stringify(request.operation)} is not one of ${Operations.join(', ')}`);
  }
  const resource = request.resource;
  if (!isObject(resource) || typeof resource.resource !== 'string' || typeof resource.version !== 'string') {
    throw new AdmissionInputError('AdmissionReview.request.resource is required');
  }
  if (!isObject(request.userInfo) || typeof request.userInfo.username !== 'string') {
    throw new AdmissionInputError('AdmissionReview.request.userInfo.username is required');
  }
  return request as unknown as AdmissionRequest;
}

export function reviewOf(response: AdmissionResponse): AdmissionReview {
  return { apiVersion: AdmissionApiVersion, kind: 'AdmissionReview', response };
}

export const allow = (request: Pick<AdmissionRequest, 'uid'>): AdmissionResponse => ({ uid: request.uid, allowed: true });

/** CDI's refusal: 422 with the causes, the message their texts each after a space. */
export function refuse(request: Pick<AdmissionRequest, 'uid'>, causes: readonly StatusCause[]): AdmissionResponse {
  const message = causes.map((c) => ` ${c.message}`).join('');
  return { uid: request.uid, allowed: false, status: { code: 422, message, details: { causes: [...causes] } } };
}

/** CDI's answer to a review it cannot judge (wrong resource, undecodable object, failed lookup): 400. */
export const fail = (request: Pick<AdmissionRequest, 'uid'>, message: string): AdmissionResponse => ({
  uid: request.uid,
  allowed: false,
  status: { code: 400, message },
});

export type JsonPatchOperation = { op: 'add' | 'replace'; path: string; value: unknown } | { op: 'remove'; path: string };

const pointer = (segments: readonly string[]): string => segments.map((s) => `/${s.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** An RFC 6902 patch that turns `from` into `to`: objects key by key, anything else replaced whole. */
export function diffJson(from: unknown, to: unknown, at: string[] = []): JsonPatchOperation[] {
  if (isDeepStrictEqual(from, to)) return [];
  if (!isObject(from) || !isObject(to)) return [{ op: 'replace', path: pointer(at), value: to }];
  const ops: JsonPatchOperation[] = [];
  for (const key of Object.keys(from)) if (!(key in to)) ops.push({ op: 'remove', path: pointer([...at, key]) });
  for (const [key, value] of Object.entries(to)) {
    if (!(key in from)) ops.push({ op: 'add', path: pointer([...at, key]), value });
    else ops.push(...diffJson(from[key], value, [...at, key]));
  }
  return ops;
}

/** Allowed, with the JSONPatch from the original object to the modified one (none when they are equal). */
export function patchTo(request: Pick<AdmissionRequest, 'uid'>, original: unknown, modified: unknown): AdmissionResponse {
  const ops = diffJson(original, modified);
  if (ops.length === 0) return allow(request);
  return { uid: request.uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
}

/** The request's object, which CREATE and UPDATE must carry. */
export function objectOf(request: AdmissionRequest): Record<string, unknown> | undefined {
  return isObject(request.object) ? request.object : undefined;
}

export function isResource(request: AdmissionRequest, gvr: GroupVersionResource): boolean {
  return request.resource.group === gvr.group && request.resource.version === gvr.version && request.resource.resource === gvr.resource;
}
