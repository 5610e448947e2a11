import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey } from '../../src/api/upload-token.ts';
import { loadOrCreateServiceAccountKeys, signServiceAccountToken } from '../../src/apiserver/auth/serviceaccount-tokens.ts';
import { renderKubeconfig, writeKubeconfig } from '../../src/apiserver/kubeconfig.ts';
import { kubectl, kubectlPath, kubectlWithInput, machineKubectl, runKubectl } from '../support/kubectl.ts';
import { curl, type CurlTarget } from './curl.ts';
import { eventually, startHarness, type Harness } from './harness.ts';

/**
 * Authorization in the embedded API server, through real clients: a ServiceAccount limited to
 * its namespace gets a token, works there, is refused elsewhere with kube-apiserver's message,
 * `kubectl auth can-i` agrees, and a cross-namespace clone waits for datavolumes/source.
 */
const SA = 'system:serviceaccount:team:builder';

const cloneYaml = (name: string) => `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ${name}
  namespace: team
spec:
  source:
    pvc:
      namespace: golden
      name: golden-disk
  storage:
    resources:
      requests:
        storage: 1Gi
`;

describe('cdi serve authorization (RBAC, ServiceAccount tokens, clone authorization)', () => {
  let h: Harness;
  let admin: CurlTarget;
  let sa: CurlTarget;
  let saKubeconfig: string;

  const json = (o: unknown) => JSON.stringify(o);
  const requestToken = async (namespace: string, name: string, spec: Record<string, unknown> = {}) =>
    curl(admin, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`, json({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec }));

  beforeAll(async () => {
    await kubectlPath();
    h = await startHarness();
    admin = { url: h.server.url, token: h.server.token };
    for (const ns of ['team', 'golden']) expect((await curl(admin, 'POST', '/api/v1/namespaces', json({ metadata: { name: ns } }))).code).toBe(201);
    expect((await curl(admin, 'POST', '/api/v1/namespaces/team/serviceaccounts', json({ metadata: { name: 'builder' } }))).code).toBe(201);
    const binding = { metadata: { name: 'builder-edit' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team' }] };
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings', json(binding))).code).toBe(201);
    const pvc = { metadata: { name: 'golden-disk' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } };
    expect((await curl(admin, 'POST', '/api/v1/namespaces/golden/persistentvolumeclaims', json(pvc))).code).toBe(201);
    const reply = await requestToken('team', 'builder');
    expect(reply.code).toBe(201);
    const token = (reply.json().status as { token: string }).token;
    sa = { url: h.server.url, token };
    saKubeconfig = path.join(h.dataDir, 'sa', 'kubeconfig');
    await mkdir(path.dirname(saKubeconfig), { recursive: true });
    await writeKubeconfig(saKubeconfig, renderKubeconfig(h.server.url, h.server.caPem, token));
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('creates the default ServiceAccount in every namespace, and again when it is deleted', async () => {
    for (const ns of ['default', 'team', 'golden']) await eventually(async () => ((await curl(admin, 'GET', `/api/v1/namespaces/${ns}/serviceaccounts/default`)).code === 200 ? true : undefined), `default SA in ${ns}`);
    expect((await curl(admin, 'DELETE', '/api/v1/namespaces/golden/serviceaccounts/default')).code).toBe(200);
    await eventually(async () => ((await curl(admin, 'GET', '/api/v1/namespaces/golden/serviceaccounts/default')).code === 200 ? true : undefined), 'default SA recreated');
  });

  it('lets the ServiceAccount work in its namespace and refuses it elsewhere with kube-apiserver\'s message', async () => {
    const own = await kubectl(saKubeconfig, 'get', 'pods,datavolumes,pvc', '-n', 'team');
    expect(own.stderr).not.toContain('Forbidden');
    expect(own.code).toBe(0);
    const other = await kubectl(saKubeconfig, 'get', 'secrets', '-n', 'golden');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`Error from server (Forbidden): secrets is forbidden: User "${SA}" cannot list resource "secrets" in API group "" in the namespace "golden"`);
    const named = await curl(sa, 'GET', '/api/v1/namespaces/golden/secrets/x');
    expect(named.code).toBe(403);
    expect(named.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, details: { name: 'x', kind: 'secrets' } });
    expect(named.json().message).toBe(`secrets "x" is forbidden: User "${SA}" cannot get resource "secrets" in API group "" in the namespace "golden"`);
    // Watches, pod logs and cluster-scoped kinds are authorized too.
    expect((await curl(sa, 'GET', '/api/v1/namespaces/golden/secrets?watch=true')).json().message).toContain(`cannot watch resource "secrets"`);
    expect((await curl(sa, 'GET', '/api/v1/namespaces/golden/pods/p/log')).json().message).toContain(`cannot get resource "pods/log" in API group "" in the namespace "golden"`);
    expect((await curl(sa, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles')).json().message).toBe(
      `clusterroles.rbac.authorization.k8s.io is forbidden: User "${SA}" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope`,
    );
    // Upload tokens need create on uploadtokenrequests, which edit grants in team only.
    const utr = json({ apiVersion: 'upload.cdi.kubevirt.io/v1beta1', kind: 'UploadTokenRequest', metadata: { name: 'u' }, spec: { pvcName: 'disk' } });
    expect((await curl(sa, 'POST', '/apis/upload.cdi.kubevirt.io/v1beta1/namespaces/team/uploadtokenrequests', utr)).code).toBe(201);
    expect((await curl(sa, 'POST', '/apis/upload.cdi.kubevirt.io/v1beta1/namespaces/golden/uploadtokenrequests', utr)).code).toBe(403);
  });

  it('answers kubectl auth can-i (SelfSubjectAccessReview, SelfSubjectRulesReview) and SubjectAccessReview', async () => {
    const no = await kubectl(saKubeconfig, 'auth', 'can-i', 'list', 'secrets', '-n', 'golden');
    expect(no.stdout.trim()).toBe('no');
    expect(no.code).toBe(1);
    const yes = await kubectl(saKubeconfig, 'auth', 'can-i', 'create', 'datavolumes.cdi.kubevirt.io', '-n', 'team');
    expect(yes.stdout.trim()).toBe('yes');
    expect((await kubectl(saKubeconfig, 'auth', 'can-i', 'create', 'datavolumes/source', '-n', 'golden')).stdout.trim()).toBe('no');
    const list = await kubectl(saKubeconfig, 'auth', 'can-i', '--list', '-n', 'team');
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/datavolumes\.cdi\.kubevirt\.io\s+\[\]\s+\[\]\s+\[get list watch create update patch delete deletecollection\]/);
    expect(list.stdout).toContain('selfsubjectaccessreviews.authorization.k8s.io');
    expect((await kubectl(h.server.kubeconfigPath, 'auth', 'can-i', '*', '*', '--all-namespaces')).stdout.trim()).toBe('yes');
    // The admin asks as the ServiceAccount (impersonation); the ServiceAccount may not impersonate anyone.
    expect((await kubectl(h.server.kubeconfigPath, 'auth', 'can-i', 'list', 'secrets', '-n', 'golden', `--as=${SA}`)).stdout.trim()).toBe('no');
    expect((await kubectl(h.server.kubeconfigPath, 'auth', 'can-i', 'list', 'secrets', '-n', 'team', `--as=${SA}`)).stdout.trim()).toBe('yes');
    const impersonating = await kubectl(saKubeconfig, 'get', 'pods', '-n', 'team', '--as=someone');
    expect(impersonating.stderr).toContain(`users "someone" is forbidden: User "${SA}" cannot impersonate resource "users" in API group "" at the cluster scope`);
    const review = (user: string, namespace: string) =>
      curl(admin, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', json({ apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups: ['system:serviceaccounts'], resourceAttributes: { namespace, verb: 'delete', group: 'cdi.kubevirt.io', resource: 'datavolumes' } } }));
    expect((await review(SA, 'team')).json().status).toEqual({ allowed: true });
    expect((await review(SA, 'golden')).json().status).toEqual({ allowed: false });
    // A ServiceAccount may not ask about others; a review without a subject is invalid.
    expect((await curl(sa, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', json({ spec: { user: 'x', resourceAttributes: { verb: 'get', resource: 'pods' } } }))).code).toBe(403);
    const empty = await curl(admin, 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', json({ spec: { resourceAttributes: { verb: 'get', resource: 'pods' } } }));
    expect(empty.code).toBe(422);
  });

  it('issues tokens with kubectl create token (1.32; create token needs kubectl 1.24+) that authenticate as the ServiceAccount', async (ctx) => {
    ctx.skip(!machineKubectl, 'no kubectl at /usr/bin/kubectl on this machine');
    const created = await runKubectl(machineKubectl!, h.server.kubeconfigPath, undefined, 'create', 'token', 'builder', '-n', 'team', '--duration', '20m');
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const who = await curl({ url: h.server.url, token: created.stdout.trim() }, 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', json({ spec: { resourceAttributes: { namespace: 'team', verb: 'list', resource: 'pods' } } }));
    expect(who.json().status).toEqual({ allowed: true });
    const canI = await runKubectl(machineKubectl!, saKubeconfig, undefined, 'auth', 'can-i', 'get', 'secrets', '-n', 'golden');
    expect(canI.stdout.trim()).toBe('no');
  });

  it('refuses a cross-namespace clone until datavolumes/source is granted in the source namespace, then allows it', async () => {
    const vm = { apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', metadata: { name: 'vm' }, spec: { dataVolumeTemplates: [{ metadata: { name: 'root' }, spec: { source: { pvc: { namespace: 'golden', name: 'golden-disk' } }, storage: { resources: { requests: { storage: '1Gi' } } } } }] } };
    const vmDenied = await curl(sa, 'POST', '/apis/kubevirt.io/v1/namespaces/team/virtualmachines', json(vm));
    expect(vmDenied.code).toBe(422);
    expect(vmDenied.json().message).toBe(`admission webhook "virtualmachine-validator.kubevirt.io" denied the request:  User ${SA} has insufficient permissions in clone source namespace golden`);
    const denied = await kubectlWithInput(saKubeconfig, cloneYaml('copy'), 'create', '-f', '-');
    expect(denied.code).toBe(1);
    expect(denied.stderr).toContain(`admission webhook "datavolume-mutate.cdi.kubevirt.io" denied the request:  User ${SA} has insufficient permissions in clone source namespace golden`);
    expect((await curl(admin, 'GET', '/apis/cdi.kubevirt.io/v1beta1/namespaces/team/datavolumes/copy')).code).toBe(404);
    // doc/RBAC.md's cdi-cloner, bound in the source namespace.
    const cloner = { metadata: { name: 'cdi-cloner' }, rules: [{ apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes/source'], verbs: ['create'] }] };
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', json(cloner))).code).toBe(201);
    const grant = { metadata: { name: 'builder-cloner' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cdi-cloner' }, subjects: [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team' }] };
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/golden/rolebindings', json(grant))).code).toBe(201);
    const allowed = await kubectlWithInput(saKubeconfig, cloneYaml('copy'), 'create', '-f', '-');
    expect(allowed.stderr).toBe('');
    expect(allowed.stdout).toContain('datavolume.cdi.kubevirt.io/copy created');
    expect((await curl(sa, 'POST', '/apis/kubevirt.io/v1/namespaces/team/virtualmachines', json(vm))).code).toBe(201);
    // Still nothing else in golden.
    expect((await kubectl(saKubeconfig, 'get', 'pvc', '-n', 'golden')).code).toBe(1);
  });

  it('refuses RBAC writes that grant more than the writer holds', async () => {
    const adminBinding = { metadata: { name: 'builder-admin' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'ServiceAccount', name: 'builder', namespace: 'team' }] };
    // edit does not include binding admin: the ServiceAccount cannot raise itself.
    const self = await curl(sa, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings', json(adminBinding));
    expect(self.code).toBe(403);
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings', json(adminBinding))).code).toBe(201);
    const held = { metadata: { name: 'readers' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] };
    expect((await curl(sa, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles', json(held))).code).toBe(201);
    const everything = { metadata: { name: 'everything' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] };
    const escalate = await curl(sa, 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles', json(everything));
    expect(escalate.code).toBe(403);
    expect(escalate.json().message).toBe(
      `roles.rbac.authorization.k8s.io "everything" is forbidden: user "${SA}" (groups=["system:serviceaccounts" "system:serviceaccounts:team" "system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:["*"], Resources:["*"], Verbs:["*"]}`,
    );
    const patched = await curl(sa, 'PATCH', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles/readers', json({ rules: everything.rules }), 'application/merge-patch+json');
    expect(patched.code).toBe(403);
    expect((await curl(admin, 'GET', '/apis/rbac.authorization.k8s.io/v1/namespaces/team/roles/readers')).json().rules).toEqual(held.rules);
  });

  it('validates bindings: roleRef required and immutable, subjects of known kinds', async () => {
    const rb = '/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings';
    const bad = await curl(admin, 'POST', rb, json({ metadata: { name: 'bad' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Pod', name: 'x' }, subjects: [{ kind: 'Robot', name: 'r' }] }));
    expect(bad.code).toBe(422);
    expect(bad.json().message).toBe(
      'RoleBinding.rbac.authorization.k8s.io "bad" is invalid: [roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole", subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"]',
    );
    expect((await curl(admin, 'GET', `${rb}/bad`)).code).toBe(404);
    const changed = await curl(admin, 'PATCH', `${rb}/builder-edit`, json({ roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' } }), 'application/merge-patch+json');
    expect(changed.code).toBe(422);
    expect(changed.json().message).toContain('roleRef: Invalid value: {"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"admin"}: cannot change roleRef');
  });

  it('keeps aggregated ClusterRoles current', async () => {
    const extra = { metadata: { name: 'widgets-view', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true' } }, rules: [{ apiGroups: ['example.com'], resources: ['widgets'], verbs: ['get'] }] };
    expect((await curl(admin, 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', json(extra))).code).toBe(201);
    for (const role of ['view', 'edit', 'admin']) {
      await eventually(async () => ((await curl(admin, 'GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${role}`)).json().rules as unknown[]).some((r) => json(r) === json(extra.rules[0])) || undefined, `${role} aggregates widgets`);
    }
    const view = (await curl(admin, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/view')).json().rules as Array<{ resources?: string[] }>;
    expect(view.some((r) => r.resources?.includes('datavolumes'))).toBe(true);
    expect((await curl(admin, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/edit')).json().rules).toContainEqual({ apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes/source'], verbs: ['create'] });
    expect((await curl(admin, 'DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles/widgets-view')).code).toBe(200);
    await eventually(async () => (((await curl(admin, 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/view')).json().rules as unknown[]).some((r) => json(r) === json(extra.rules[0])) ? undefined : true), 'view drops widgets');
  });

  it('answers 401 for an expired, forged or orphaned token, and 422 for a too short TokenRequest', async () => {
    const unauthorized = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
    const keys = await loadOrCreateServiceAccountKeys(h.dataDir);
    const uid = ((await curl(admin, 'GET', '/api/v1/namespaces/team/serviceaccounts/builder')).json().metadata as { uid: string }).uid;
    const expired = await signServiceAccountToken(keys, { namespace: 'team', name: 'builder', uid }, { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 600, now: new Date(Date.now() - 2 * 3600_000) });
    const forgedKey = createPrivateKey((await generateSigningKey()).privatePem);
    const forged = await signServiceAccountToken({ privateKey: forgedKey, publicKey: createPublicKey(forgedKey) }, { namespace: 'team', name: 'builder', uid }, { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 3600 });
    expect((await curl(admin, 'POST', '/api/v1/namespaces/team/serviceaccounts', json({ metadata: { name: 'temp' } }))).code).toBe(201);
    const orphaned = (await requestToken('team', 'temp')).json().status as { token: string };
    expect((await curl({ url: h.server.url, token: orphaned.token }, 'GET', '/api')).code).toBe(200);
    expect((await curl(admin, 'DELETE', '/api/v1/namespaces/team/serviceaccounts/temp')).code).toBe(200);
    for (const token of [expired.token, forged.token, orphaned.token, 'not-a-token']) {
      const reply = await curl({ url: h.server.url, token }, 'GET', '/api/v1/namespaces/team/pods');
      expect(reply.code).toBe(401);
      expect(reply.json()).toEqual(unauthorized);
    }
    const short = await requestToken('team', 'builder', { expirationSeconds: 10 });
    expect(short.code).toBe(422);
    expect(short.json().message).toBe('TokenRequest.authentication.k8s.io "builder" is invalid: spec.expirationSeconds: Invalid value: 10: may not specify a duration less than 10 minutes');
    const issued = (await requestToken('team', 'builder')).json();
    expect(issued.spec).toMatchObject({ expirationSeconds: 3600, audiences: ['https://kubernetes.default.svc.cluster.local'] });
    expect((await requestToken('team', 'nobody')).code).toBe(404);
  });
});
