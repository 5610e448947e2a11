import { signUploadToken } from '../api/upload-token.ts';
import type { KindInfo, KubeObject } from './kinds.ts';
import { checkTypeMeta, nowTimestamp } from './metadata.ts';
import { invalid } from './status.ts';

/**
 * `UploadTokenRequest` (upload.cdi.kubevirt.io/v1beta1, create only): answers the request with
 * `status.token`, a PS256 JWT for `spec.pvcName` in the request's namespace, as cdi-apiserver
 * does. Like CDI it does not check that the claim exists, and nothing is stored.
 */
export async function createUploadToken(info: KindInfo, namespace: string, body: unknown, privatePem: string): Promise<KubeObject> {
  const obj = checkTypeMeta(info, body);
  const spec = obj.spec as { pvcName?: unknown } | undefined;
  const name = obj.metadata?.name ?? obj.metadata?.generateName ?? '';
  if (typeof spec?.pvcName !== 'string' || spec.pvcName === '') {
    throw invalid(info, name, [{ field: 'spec.pvcName', reason: 'FieldValueRequired', message: 'Required value' }]);
  }
  const token = await signUploadToken(privatePem, { name: spec.pvcName, namespace });
  return {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: { ...obj.metadata, namespace, creationTimestamp: nowTimestamp() },
    spec: { pvcName: spec.pvcName },
    status: { token },
  };
}
