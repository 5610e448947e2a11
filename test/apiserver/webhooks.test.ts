import type { ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { kubectlPath, machineKubectl, runKubectl } from '../support/kubectl.ts';
import { curl, type CurlTarget } from './curl.ts';
import { startHarness, type Harness } from './harness.ts';

/**
 * cdi serve calling admission webhooks registered with Validating/MutatingWebhookConfigurations,
 * as kube-apiserver does, against a real HTTPS webhook server on loopback that records the
 * AdmissionReviews it gets and answers per path: rules and selectors pick what is sent, a JSON
 * patch changes what is stored, a denial keeps its code and reads as kube-apiserver's, and an
 * unreachable or slow webhook fails the write or is skipped by its failurePolicy.
 */
const hour = 3_600_000;
const life = { notBefore: new Date(), notAfter: new Date(Date.now() + hour) };
const ca = issueCertificate({ commonName: 'webhook-ca', usage: 'ca', ...life });
const leaf = issueCertificate({ commonName: 'hook', usage: 'server', hostnames: ['127.0.0.1', 'hook.team.svc'], ...life }, ca);
const caBundle = Buffer.from(ca.certPem).toString('base64');
const json = (o: unknown) => JSON.stringify(o);

interface Review {
  request: { uid: string; operation: string; namespace?: string; name?: string; userInfo: { username: string }; object?: { metadata: { labels?: Record<string, string> } }; oldObject?: unknown; dryRun?: boolean };
}

describe('cdi serve admission webhook dispatch', () => {
  let h: Harness;
  let admin: CurlTarget;
  let server: Server;
  let base: string;
  let port: number;
  const seen: Array<{ path: string; review: Review }> = [];
  const hanging: ServerResponse[] = [];

  const answer = (res: ServerResponse, uid: string, response: object) => {
    res.setHeader('content-type', 'application/json');
    res.end(json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, ...response } }));
  };

  beforeAll(async () => {
    server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d));
      req.on('end', () => {
        const review = JSON.parse(body) as Review;
        const path = new URL(req.url ?? '/', 'https://x').pathname;
        seen.push({ path, review });
        const uid = review.request.uid;
        switch (path) {
          case '/label':
            return answer(res, uid, { allowed: true, patchType: 'JSONPatch', patch: Buffer.from(json([{ op: 'add', path: '/metadata/labels', value: { stamped: 'yes' } }])).toString('base64') });
          case '/deny':
            return answer(res, uid, { allowed: false, status: { code: 403, message: 'configmaps named forbidden are not welcome' } });
          case '/deny-silently':
            return answer(res, uid, { allowed: false });
          case '/wrong-uid':
            return answer(res, 'someone-else', { allowed: true });
          case '/slow':
            hanging.push(res);
            return;
          default:
            return answer(res, uid, { allowed: true });
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `https://127.0.0.1:${port}`;
    h = await startHarness();
    admin = { url: h.server.url, token: h.server.token };
    expect((await curl(admin, 'POST', '/api/v1/namespaces', json({ metadata: { name: 'team', labels: { hooks: 'on' } } }))).code).toBe(201);
    expect((await curl(admin, 'POST', '/api/v1/namespaces', json({ metadata: { name: 'quiet' } }))).code).toBe(201);
  });
  afterAll(async () => {
    for (const res of hanging) res.destroy();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await h?.stop();
  });

  const hook = (name: string, path: string, extra: object = {}) => ({
    name,
    clientConfig: { url: `${base}${path}`, caBundle },
    rules: [{ operations: ['CREATE', 'UPDATE', 'DELETE'], apiGroups: [''], apiVersions: ['v1'], resources: ['configmaps'] }],
    sideEffects: 'None',
    admissionReviewVersions: ['v1'],
    ...extra,
  });
  const register = async (kind: 'validating' | 'mutating', name: string, webhooks: object[]) => {
    const plural = `${kind}webhookconfigurations`;
    const reply = await curl(admin, 'POST', `/apis/admissionregistration.k8s.io/v1/${plural}`, json({ metadata: { name }, webhooks }));
    expect(reply.code, reply.body).toBe(201);
    return async () => expect((await curl(admin, 'DELETE', `/apis/admissionregistration.k8s.io/v1/${plural}/${name}`)).code).toBe(200);
  };
  const createConfigMap = (namespace: string, name: string) => curl(admin, 'POST', `/api/v1/namespaces/${namespace}/configmaps`, json({ metadata: { name }, data: { a: 'b' } }));
  const getConfigMap = (namespace: string, name: string) => curl(admin, 'GET', `/api/v1/namespaces/${namespace}/configmaps/${name}`);

  it('refuses configurations kube-apiserver would refuse, and the fields it does not act on', async () => {
    const bad = await curl(admin, 'POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', json({
      metadata: { name: 'bad' },
      webhooks: [
        { ...hook('plain.test.io', '/x'), clientConfig: { url: 'http://127.0.0.1:1/x' } },
        { ...hook('side.test.io', '/x'), sideEffects: 'Some' },
        { ...hook('cel.test.io', '/x'), matchConditions: [{ name: 'c', expression: 'true' }] },
        { ...hook('again.test.io', '/x'), reinvocationPolicy: 'IfNeeded', timeoutSeconds: 31 },
        hook('short', '/x'),
      ],
    }));
    expect(bad.code).toBe(422);
    const messages = ((bad.json().details as { causes: Array<{ field: string; message: string }> }).causes).map((c) => `${c.field}: ${c.message}`);
    expect(messages).toEqual([
      `webhooks[0].clientConfig.url: Invalid value: "http": 'https' is the only allowed URL scheme`,
      'webhooks[1].sideEffects: Unsupported value: "Some": supported values: "None", "NoneOnDryRun"',
      'webhooks[2].matchConditions: Forbidden: matchConditions (CEL) are not supported by cdi serve',
      'webhooks[3].timeoutSeconds: Invalid value: 31: the timeout value must be between 1 and 30 seconds',
      'webhooks[3].reinvocationPolicy: Forbidden: reinvocationPolicy IfNeeded is not supported by cdi serve; use Never',
      'webhooks[4].name: Invalid value: "short": should be a domain with at least three segments separated by dots',
    ]);
  });

  it('stores configurations with admissionregistration/v1\'s defaults written in, as kubectl reads them back', async () => {
    // Rules that nothing written here matches: the defaults are the point, not the calls.
    const rules = [{ operations: ['CREATE'], apiGroups: ['example.com'], apiVersions: ['v1'], resources: ['widgets'] }];
    const minimal = (kind: string, name: string) => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind,
      metadata: { name },
      webhooks: [{ name: 'defaults.test.io', clientConfig: { service: { namespace: 'team', name: 'hook' }, caBundle }, rules, sideEffects: 'None', admissionReviewVersions: ['v1'] }],
    });
    const defaulted = {
      name: 'defaults.test.io',
      clientConfig: { service: { namespace: 'team', name: 'hook', port: 443 }, caBundle },
      rules: [{ ...rules[0], scope: '*' }],
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      failurePolicy: 'Fail',
      matchPolicy: 'Equivalent',
      namespaceSelector: {},
      objectSelector: {},
      timeoutSeconds: 10,
    };
    const kc = h.server.kubeconfigPath;
    const kubectls = [await kubectlPath(), ...(machineKubectl ? [machineKubectl] : [])];
    for (const bin of kubectls) {
      const manifests = [minimal('ValidatingWebhookConfiguration', 'defaulted'), minimal('MutatingWebhookConfiguration', 'defaulted')].map((m) => JSON.stringify(m)).join('\n');
      const created = await runKubectl(bin, kc, manifests, 'create', '-f', '-');
      expect(created.code, `${bin}: ${created.stderr}`).toBe(0);
      // A client-side apply over the same manifests patches what is stored; the defaults stay.
      const applied = await runKubectl(bin, kc, manifests, 'apply', '-f', '-');
      expect(applied.code, `${bin}: ${applied.stderr}`).toBe(0);
      const validating = await runKubectl(bin, kc, undefined, 'get', 'validatingwebhookconfiguration', 'defaulted', '-o', 'yaml');
      expect((parse(validating.stdout) as { webhooks: unknown[] }).webhooks, bin).toEqual([defaulted]);
      const mutating = await runKubectl(bin, kc, undefined, 'get', 'mutatingwebhookconfiguration', 'defaulted', '-o', 'yaml');
      expect((parse(mutating.stdout) as { webhooks: unknown[] }).webhooks, bin).toEqual([{ ...defaulted, reinvocationPolicy: 'Never' }]);
      const deleted = await runKubectl(bin, kc, undefined, 'delete', 'validatingwebhookconfiguration,mutatingwebhookconfiguration', 'defaulted');
      expect(deleted.code, deleted.stderr).toBe(0);
    }
  });

  it('applies a mutating webhook\'s JSON patch to what it matches, by rule and namespace selector, and sends kube-apiserver\'s review', async () => {
    const unregister = await register('mutating', 'stamp', [hook('stamp.test.io', '/label', { namespaceSelector: { matchLabels: { hooks: 'on' } } })]);
    seen.length = 0;
    expect((await createConfigMap('team', 'stamped')).code).toBe(201);
    expect((await getConfigMap('team', 'stamped')).json().metadata).toMatchObject({ labels: { stamped: 'yes' } });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.review.request).toMatchObject({ operation: 'CREATE', namespace: 'team', name: 'stamped', userInfo: { username: 'kubernetes-admin' }, dryRun: false });
    expect((await createConfigMap('quiet', 'plain')).code).toBe(201);
    expect((await getConfigMap('quiet', 'plain')).json().metadata).not.toHaveProperty('labels');
    // Secrets match no rule.
    expect((await curl(admin, 'POST', '/api/v1/namespaces/team/secrets', json({ metadata: { name: 's' } }))).code).toBe(201);
    expect(seen).toHaveLength(1);
    await unregister();
  });

  it('answers a denial with the webhook\'s code and kube-apiserver\'s text, and stores nothing', async () => {
    const unregister = await register('validating', 'deny', [
      hook('deny.test.io', '/deny', { objectSelector: { matchLabels: { name: 'forbidden' } } }),
      hook('silent.test.io', '/deny-silently', { objectSelector: { matchLabels: { name: 'hushed' } } }),
    ]);
    const create = (name: string) => curl(admin, 'POST', '/api/v1/namespaces/team/configmaps', json({ metadata: { name, labels: { name } } }));
    const denied = await create('forbidden');
    expect(denied.code).toBe(403);
    expect(denied.json().message).toBe('admission webhook "deny.test.io" denied the request: configmaps named forbidden are not welcome');
    expect((await getConfigMap('team', 'forbidden')).code).toBe(404);
    const hushed = await create('hushed');
    expect(hushed.code).toBe(400);
    expect(hushed.json().message).toBe('admission webhook "silent.test.io" denied the request without explanation');
    expect((await create('welcome')).code).toBe(201);
    await unregister();
  });

  it('sends updates with the old object and deletes with only the old object', async () => {
    const unregister = await register('validating', 'watcher', [hook('watch.test.io', '/allow')]);
    expect((await createConfigMap('team', 'tracked')).code).toBe(201);
    seen.length = 0;
    expect((await curl(admin, 'PATCH', '/api/v1/namespaces/team/configmaps/tracked', json({ data: { a: 'c' } }), 'application/merge-patch+json')).code).toBe(200);
    expect((await curl(admin, 'DELETE', '/api/v1/namespaces/team/configmaps/tracked')).code).toBe(200);
    expect(seen.map((s) => [s.review.request.operation, s.review.request.object !== undefined, s.review.request.oldObject !== undefined])).toEqual([
      ['UPDATE', true, true],
      ['DELETE', false, true],
    ]);
    await unregister();
  });

  it('dials a service reference on loopback, verifying <service>.<namespace>.svc', async () => {
    const unregister = await register('mutating', 'by-service', [{ ...hook('svc.test.io', '/label'), clientConfig: { service: { namespace: 'team', name: 'hook', path: '/label', port }, caBundle } }]);
    expect((await createConfigMap('team', 'via-service')).code).toBe(201);
    expect((await getConfigMap('team', 'via-service')).json().metadata).toMatchObject({ labels: { stamped: 'yes' } });
    await unregister();
  });

  it('fails closed or open by failurePolicy when a webhook times out, cannot be reached or answers for another request', async () => {
    let unregister = await register('validating', 'slow', [hook('slow.test.io', '/slow', { timeoutSeconds: 1, failurePolicy: 'Ignore' })]);
    expect((await createConfigMap('team', 'ignored-timeout')).code).toBe(201);
    await unregister();
    unregister = await register('validating', 'slow', [hook('slow.test.io', '/slow', { timeoutSeconds: 1 })]);
    const timedOut = await createConfigMap('team', 'timed-out');
    expect(timedOut.code).toBe(500);
    expect(timedOut.json().message).toBe(`Internal error occurred: failed calling webhook "slow.test.io": failed to call webhook: Post "${base}/slow?timeout=1s": context deadline exceeded`);
    await unregister();
    unregister = await register('validating', 'confused', [hook('uid.test.io', '/wrong-uid')]);
    const confused = await createConfigMap('team', 'confused');
    expect(confused.code).toBe(500);
    expect(confused.json().message).toMatch(/^Internal error occurred: failed calling webhook "uid\.test\.io": expected response\.uid="[0-9a-f-]{36}", got "someone-else"$/);
    await unregister();
    unregister = await register('validating', 'untrusted', [{ ...hook('untrusted.test.io', '/allow'), clientConfig: { url: `${base}/allow` } }]);
    const untrusted = await createConfigMap('team', 'untrusted');
    expect(untrusted.code).toBe(500);
    expect(untrusted.json().message).toContain('failed calling webhook "untrusted.test.io": failed to call webhook: Post');
    await unregister();
    for (const name of ['timed-out', 'confused', 'untrusted']) expect((await getConfigMap('team', name)).code).toBe(404);
  });
});
