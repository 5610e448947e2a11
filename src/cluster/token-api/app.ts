import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { AdmissionEndpoints, answerAdmissionReview, type AdmissionBackends } from '../../admission/endpoints.ts';
import { CdiError, asCdiError } from '../../api/errors.ts';
import type { Logger } from '../../api/logger.ts';
import { signUploadToken } from '../../api/upload-token.ts';
import type { UserInfo } from './authn.ts';
import type { Authorizer } from './authz.ts';

/**
 * cdi-apiserver: CDI's admission webhooks (src/admission) for the kube-apiserver to call, and
 * the aggregated API `upload.cdi.kubevirt.io/v1beta1`: discovery for
 * the aggregator, and `POST …/namespaces/{ns}/uploadtokenrequests`, which authorises the caller
 * with a SubjectAccessReview and answers the request object with `status.token` set. Like CDI it
 * does not check that the PVC exists; the upload proxy does that when the token is used.
 */

export const UploadGroup = 'upload.cdi.kubevirt.io';
export const UploadVersion = 'v1beta1';
const groupVersion = `${UploadGroup}/${UploadVersion}`;

export interface TokenApiOptions {
  /** Who is calling; throws CDI_ERR_TOKEN_API_UNAUTHENTICATED when the request cannot be trusted. */
  authenticate(request: FastifyRequest): UserInfo;
  authorize: Authorizer;
  /** The PEM of `cdi-api-signing-key`'s `id_rsa`, read when needed so a rotated key is picked up. */
  signingKey(): Promise<string>;
  logger: Logger;
  /** CDI's admission webhooks (POST /datavolume-validate, /datavolume-mutate, /pvc-mutate) and what they look up. */
  admission?: AdmissionBackends;
}

interface UploadTokenRequestBody {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: Record<string, unknown>;
  spec?: { pvcName?: unknown };
}

function statusFor(err: CdiError) {
  const reason = err.httpStatus === 401 ? 'Unauthorized' : err.httpStatus === 400 ? 'BadRequest' : 'InternalError';
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: err.message, reason, details: { causes: [{ reason: err.code }] }, code: err.httpStatus };
}

function parseRequest(body: unknown): UploadTokenRequestBody & { spec: { pvcName: string } } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new CdiError('CDI_ERR_TOKEN_API_REQUEST', ['body is not a JSON object']);
  const request = body as UploadTokenRequestBody;
  if (request.kind !== undefined && request.kind !== 'UploadTokenRequest') throw new CdiError('CDI_ERR_TOKEN_API_REQUEST', [`kind ${String(request.kind)}`]);
  if (request.apiVersion !== undefined && request.apiVersion !== groupVersion) {
    throw new CdiError('CDI_ERR_TOKEN_API_REQUEST', [`apiVersion ${String(request.apiVersion)}`]);
  }
  const pvcName = request.spec?.pvcName;
  if (typeof pvcName !== 'string' || pvcName === '') throw new CdiError('CDI_ERR_TOKEN_API_REQUEST', ['spec.pvcName is required']);
  return request as UploadTokenRequestBody & { spec: { pvcName: string } };
}

export function buildTokenApi(opts: TokenApiOptions, serverOptions: FastifyServerOptions & { https?: object } = {}): FastifyInstance {
  const app = fastify({ ...serverOptions, logger: false }) as unknown as FastifyInstance;
  const log = opts.logger.child({ component: 'token-api' });

  app.setErrorHandler((err, _request, reply: FastifyReply) => {
    const fastifyError = err as { statusCode?: number; code?: string; message?: string };
    const isBodyError = fastifyError.statusCode === 400 || fastifyError.code?.startsWith('FST_ERR_CTP');
    const cdiErr = isBodyError ? new CdiError('CDI_ERR_TOKEN_API_REQUEST', [String(fastifyError.message)]) : asCdiError(err);
    if (cdiErr.httpStatus >= 500) log.error({ err }, 'token request failed');
    else log.info({ code: cdiErr.code, reason: cdiErr.message }, 'rejected token request');
    void reply.code(cdiErr.httpStatus).send(statusFor(cdiErr));
  });

  app.get('/healthz', async () => 'OK');

  app.get('/apis', async () => ({
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [{ name: UploadGroup, versions: [{ groupVersion, version: UploadVersion }], preferredVersion: { groupVersion, version: UploadVersion } }],
  }));
  app.get(`/apis/${UploadGroup}`, async () => ({
    kind: 'APIGroup',
    apiVersion: 'v1',
    name: UploadGroup,
    versions: [{ groupVersion, version: UploadVersion }],
    preferredVersion: { groupVersion, version: UploadVersion },
  }));
  app.get(`/apis/${groupVersion}`, async () => ({
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion,
    resources: [{ name: 'uploadtokenrequests', singularName: 'uploadtokenrequest', namespaced: true, kind: 'UploadTokenRequest', verbs: ['create'] }],
  }));

  app.post<{ Params: { namespace: string } }>(`/apis/${groupVersion}/namespaces/:namespace/uploadtokenrequests`, async (request, reply) => {
    const user = opts.authenticate(request);
    const { namespace } = request.params;
    const decision = await opts.authorize(user, { namespace, verb: 'create', group: UploadGroup, version: UploadVersion, resource: 'uploadtokenrequests' });
    // 401 as upstream cdi-apiserver answers; the kube-apiserver in front has already answered 403 to users RBAC denies.
    if (!decision.allowed) throw new CdiError('CDI_ERR_TOKEN_API_DENIED', [decision.reason]);
    const tokenRequest = parseRequest(request.body);
    const token = await signUploadToken(await opts.signingKey(), { name: tokenRequest.spec.pvcName, namespace });
    log.info({ user: user.username, namespace, pvc: tokenRequest.spec.pvcName }, 'issued upload token');
    return reply.code(200).send({
      apiVersion: groupVersion,
      kind: 'UploadTokenRequest',
      metadata: { ...tokenRequest.metadata, namespace },
      spec: tokenRequest.spec,
      status: { token },
    });
  });

  const admission = opts.admission;
  if (admission) {
    // The webhooks read the body themselves, so a body that is no JSON still gets an AdmissionReview that says why.
    void app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
      for (const [path, admit] of Object.entries(AdmissionEndpoints)) {
        scope.post(path, async (request, reply) => {
          const { httpStatus, review } = await answerAdmissionReview(admit, request.body ?? '', admission);
          const response = review.response;
          const fields = { path, uid: response?.uid, allowed: response?.allowed, code: response?.status?.code, reason: response?.status?.message };
          if (response?.allowed) log.debug(fields, 'admission review allowed');
          else log.info(fields, 'admission review refused');
          return reply.code(httpStatus).send(review);
        });
      }
    });
  }

  return app;
}
