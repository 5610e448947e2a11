import type { KindInfo, KubeObject } from '../kinds.ts';
import { nowTimestamp } from '../metadata.ts';
import { badRequest, invalid } from '../status.ts';
import { DefaultExpirationSeconds, Issuer, MaxExpirationSeconds, MinExpirationSeconds, signServiceAccountToken, type ServiceAccountKeys } from './serviceaccount-tokens.ts';

/**
 * POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token (`kubectl create token`): a
 * TokenRequest answered with `status.token`, never stored. As kube-apiserver: audiences default to
 * the issuer, expirationSeconds to one hour, at least ten minutes and at most 2^32 seconds.
 */
const tokenRequests = { group: 'authentication.k8s.io', kind: 'TokenRequest', plural: 'tokenrequests' } as KindInfo;

interface TokenRequestSpec {
  audiences?: unknown;
  expirationSeconds?: unknown;
  boundObjectRef?: unknown;
}

export async function createServiceAccountToken(keys: ServiceAccountKeys, sa: KubeObject, body: unknown): Promise<KubeObject> {
  const request = (body ?? {}) as KubeObject;
  if (typeof request !== 'object' || Array.isArray(request)) throw badRequest('the request body is not a TokenRequest');
  if ((request.kind !== undefined && request.kind !== 'TokenRequest') || (request.apiVersion !== undefined && request.apiVersion !== 'authentication.k8s.io/v1')) {
    throw badRequest(`expected authentication.k8s.io/v1 TokenRequest, got ${String(request.apiVersion)} ${String(request.kind)}`);
  }
  const name = sa.metadata!.name!;
  const namespace = sa.metadata!.namespace!;
  const spec = (request.spec ?? {}) as TokenRequestSpec;
  const expirationSeconds = spec.expirationSeconds ?? DefaultExpirationSeconds;
  if (typeof expirationSeconds !== 'number' || !Number.isInteger(expirationSeconds)) {
    throw invalid(tokenRequests, name, [{ field: 'spec.expirationSeconds', message: `Invalid value: ${JSON.stringify(expirationSeconds)}: must be an integer` }]);
  }
  if (expirationSeconds < MinExpirationSeconds) {
    throw invalid(tokenRequests, name, [{ field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration less than 10 minutes` }]);
  }
  if (expirationSeconds > MaxExpirationSeconds) {
    throw invalid(tokenRequests, name, [{ field: 'spec.expirationSeconds', message: `Invalid value: ${expirationSeconds}: may not specify a duration larger than 2^32 seconds` }]);
  }
  // Tokens here are bound to the ServiceAccount only: there are no kubelet-run Pods or Secrets to bind them to.
  if (spec.boundObjectRef !== undefined && spec.boundObjectRef !== null) {
    throw invalid(tokenRequests, name, [{ field: 'spec.boundObjectRef', reason: 'FieldValueNotSupported', message: 'Unsupported value: tokens bound to an object are not issued by cdi serve' }]);
  }
  const audiences = spec.audiences ?? [];
  if (!Array.isArray(audiences) || audiences.some((a) => typeof a !== 'string' || a === '')) {
    throw invalid(tokenRequests, name, [{ field: 'spec.audiences', message: 'Invalid value: audiences must be non-empty strings' }]);
  }
  const granted = audiences.length > 0 ? (audiences as string[]) : [Issuer];
  const { token, expirationTimestamp } = await signServiceAccountToken(keys, { namespace, name, uid: sa.metadata!.uid! }, { audiences: granted, expirationSeconds });
  return {
    kind: 'TokenRequest',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { name, namespace, creationTimestamp: nowTimestamp() },
    spec: { audiences: granted, expirationSeconds, boundObjectRef: null },
    status: { token, expirationTimestamp: expirationTimestamp.toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
}
