import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { silentLogger } from '../../src/api/logger.ts';
import { generateSigningKey, verifyUploadToken } from '../../src/api/upload-token.ts';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { buildTokenApi } from '../../src/cluster/token-api/app.ts';
import { peerOf, requestHeaderConfigFrom, userFromFrontProxy, type UserInfo } from '../../src/cluster/token-api/authn.ts';
import { subjectAccessReviewAuthorizer, type ResourceAttributes } from '../../src/cluster/token-api/authz.ts';

const hour = 3_600_000;
const now = new Date();
const lifetime = { notBefore: now, notAfter: new Date(now.getTime() + hour) };
const servingCa = issueCertificate({ commonName: 'cdi-apiserver-signer@1', usage: 'ca', ...lifetime });
const serving = issueCertificate({ commonName: 'cdi-api.cdi.svc', usage: 'server', hostnames: ['localhost', '127.0.0.1'], ...lifetime }, servingCa);
const frontProxyCa = issueCertificate({ commonName: 'front-proxy-ca', usage: 'ca', ...lifetime });
const aggregator = issueCertificate({ commonName: 'front-proxy-client', usage: 'client', ...lifetime }, frontProxyCa);
const strangerCa = issueCertificate({ commonName: 'someone-else', usage: 'ca', ...lifetime });
const stranger = issueCertificate({ commonName: 'front-proxy-client', usage: 'client', ...lifetime }, strangerCa);
const wrongName = issueCertificate({ commonName: 'not-the-aggregator', usage: 'client', ...lifetime }, frontProxyCa);

// The cluster's authentication ConfigMap as a kube-apiserver publishes it.
const requestHeader = requestHeaderConfigFrom({
  'requestheader-client-ca-file': frontProxyCa.certPem,
  'requestheader-allowed-names': '["front-proxy-client"]',
  'requestheader-username-headers': '["X-Remote-User"]',
  'requestheader-group-headers': '["X-Remote-Group"]',
  'requestheader-extra-headers-prefix': '["X-Remote-Extra-"]',
});

const path = '/apis/upload.cdi.kubevirt.io/v1beta1/namespaces/default/uploadtokenrequests';
const tokenRequest = { apiVersion: 'upload.cdi.kubevirt.io/v1beta1', kind: 'UploadTokenRequest', metadata: { name: 'disk' }, spec: { pvcName: 'disk' } };

describe('token API over TLS with front-proxy authentication', () => {
  let app: FastifyInstance;
  let base: string;
  let publicPem: string;
  const reviews: Array<{ user: UserInfo; attributes: ResourceAttributes }> = [];

  beforeAll(async () => {
    const key = await generateSigningKey();
    publicPem = key.publicPem;
    app = buildTokenApi(
      {
        authenticate: (req) => userFromFrontProxy(req.headers, peerOf(req.raw.socket as TLSSocket), requestHeader),
        // No kube-apiserver runs here, so the cluster's authorizer is replaced by this rule:
        // alice may create upload tokens in `default`, nobody else may.
        authorize: async (user, attributes) => {
          reviews.push({ user, attributes });
          const allowed = user.username === 'alice' && attributes.namespace === 'default';
          return { allowed, reason: allowed ? '' : `RBAC: ${user.username} cannot create uploadtokenrequests` };
        },
        signingKey: async () => key.privatePem,
        logger: silentLogger,
      },
      { https: { key: serving.keyPem, cert: serving.certPem, ca: frontProxyCa.certPem, requestCert: true, rejectUnauthorized: false } },
    );
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => app.close());

  const client = (cert?: { certPem: string; keyPem: string }) =>
    new Agent({ connect: { ca: servingCa.certPem, ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}) } });

  async function post(body: unknown, cert: { certPem: string; keyPem: string } | undefined, headers: Record<string, string>) {
    const dispatcher = client(cert);
    try {
      const res = await request(`${base}${path}`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
    } finally {
      await dispatcher.close();
    }
  }

  it('issues a PS256 token for the PVC to an authorised user behind the aggregator', async () => {
    const res = await post(tokenRequest, aggregator, { 'X-Remote-User': 'alice', 'X-Remote-Group': 'dev, system:authenticated', 'X-Remote-Extra-Scopes': 'a' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ kind: 'UploadTokenRequest', metadata: { name: 'disk', namespace: 'default' }, spec: { pvcName: 'disk' } });
    const token = (res.json.status as { token: string }).token;
    expect(await verifyUploadToken(publicPem, token)).toEqual({ name: 'disk', namespace: 'default' });
    expect(reviews.at(-1)).toEqual({
      user: { username: 'alice', groups: ['dev', 'system:authenticated'], extra: { scopes: ['a'] } },
      attributes: { namespace: 'default', verb: 'create', group: 'upload.cdi.kubevirt.io', version: 'v1beta1', resource: 'uploadtokenrequests' },
    });
  });

  it('answers 401 when the authorizer denies, with its reason (upstream cdi-apiserver\'s status, not kube-apiserver\'s 403)', async () => {
    const res = await post(tokenRequest, aggregator, { 'X-Remote-User': 'bob' });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ kind: 'Status', code: 401, message: 'upload token request denied: RBAC: bob cannot create uploadtokenrequests', details: { causes: [{ reason: 'CDI_ERR_TOKEN_API_DENIED' }] } });
  });

  it.each([
    ['no client certificate', undefined],
    ['a certificate from another CA', stranger],
    ['a front-proxy CA certificate with a name that is not allowed', wrongName],
  ])('ignores identity headers on a connection with %s (401)', async (_what, cert) => {
    const before = reviews.length;
    const res = await post(tokenRequest, cert, { 'X-Remote-User': 'alice' });
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ details: { causes: [{ reason: 'CDI_ERR_TOKEN_API_UNAUTHENTICATED' }] } });
    expect(reviews.length).toBe(before);
  });

  it('refuses a verified aggregator request without a user name (401)', async () => {
    expect((await post(tokenRequest, aggregator, {})).status).toBe(401);
  });

  it.each([
    ['malformed JSON', '{"spec":'],
    ['a missing pvcName', { ...tokenRequest, spec: {} }],
    ['another kind', { ...tokenRequest, kind: 'Pod' }],
    ['a JSON array', '[]'],
  ])('answers 400 for %s', async (_what, body) => {
    const res = await post(body, aggregator, { 'X-Remote-User': 'alice' });
    expect(res.status).toBe(400);
    expect(res.json).toMatchObject({ details: { causes: [{ reason: 'CDI_ERR_TOKEN_API_REQUEST' }] } });
  });

  it('serves discovery for the aggregator and /healthz', async () => {
    const discovery = await app.inject({ url: '/apis/upload.cdi.kubevirt.io/v1beta1' });
    expect(discovery.json()).toMatchObject({ kind: 'APIResourceList', resources: [{ name: 'uploadtokenrequests', namespaced: true, verbs: ['create'] }] });
    expect((await app.inject({ url: '/healthz' })).body).toBe('OK');
  });
});

describe('SubjectAccessReview authorizer', () => {
  it('sends the caller and resource attributes and reads the decision', async () => {
    const sent: unknown[] = [];
    const authorize = subjectAccessReviewAuthorizer({
      createSubjectAccessReview: async ({ body }) => {
        sent.push(body);
        return { ...body, status: { allowed: false, reason: 'no RBAC policy matched' } };
      },
    });
    const decision = await authorize(
      { username: 'bob', uid: '42', groups: ['g'], extra: {} },
      { namespace: 'ns', verb: 'create', group: 'upload.cdi.kubevirt.io', version: 'v1beta1', resource: 'uploadtokenrequests' },
    );
    expect(decision).toEqual({ allowed: false, reason: 'no RBAC policy matched' });
    expect(sent[0]).toMatchObject({
      kind: 'SubjectAccessReview',
      spec: { user: 'bob', uid: '42', groups: ['g'], resourceAttributes: { namespace: 'ns', verb: 'create', resource: 'uploadtokenrequests' } },
    });
  });
});
