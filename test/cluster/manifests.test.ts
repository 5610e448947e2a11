import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { AdmissionEndpoints } from '../../src/admission/endpoints.ts';
import { validateWebhookConfiguration } from '../../src/apiserver/webhooks/config.ts';
import { WebhookConfigurations } from '../../src/cluster/pki/cert-controller.ts';
import { SigningKeySecret } from '../../src/cluster/pki/signing-key.ts';
import { kubectlPath } from '../support/kubectl.ts';
import { cdiCertSpecs } from '../../src/cluster/pki/rotation.ts';
import { deriveApiCalls, type ApiRequirement } from './support/api-calls.ts';
import { parseDockerfile, stageConfig } from './support/dockerfile.ts';
import { hasModel, modelName, validateModel, validateSchema } from './support/k8s-schema.ts';
import { allowedBy, ruleAllows, rulesFor } from './support/rbac.ts';

/**
 * docker/deploy/ checked without a cluster: every manifest parses and matches the Kubernetes
 * OpenAPI shapes (client-node's generated models; custom resources against our CRDs), the
 * kustomization lists every file, pods have the restricted shape and run the Dockerfile's
 * targets, and RBAC allows exactly the API calls derived from each component's code.
 */

const repo = join(import.meta.dirname, '..', '..');
const deployDir = join(repo, 'docker', 'deploy');
const Namespace = 'cdi';

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const kustomization = parseAllDocuments(readFileSync(join(deployDir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[]; images: Array<{ name: string }> };
const files = readdirSync(deployDir, { recursive: true }).map(String).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
const objects: Array<K8sObject & { file: string }> = [];
for (const file of kustomization.resources) {
  for (const doc of parseAllDocuments(readFileSync(join(deployDir, file), 'utf8'))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value) objects.push({ ...value, file });
  }
}
const crds = objects.filter((o) => o.kind === 'CustomResourceDefinition') as unknown as Array<{
  spec: { group: string; names: { kind: string }; scope: string; versions: Array<{ name: string; schema: { openAPIV3Schema: object } }> };
}>;
const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'APIService', 'ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', ...crds.filter((c) => c.spec.scope === 'Cluster').map((c) => c.spec.names.kind)]);
const dockerfile = parseDockerfile(readFileSync(join(repo, 'docker', 'Dockerfile'), 'utf8'));
const strip = ({ file: _file, ...rest }: K8sObject & { file: string }) => rest;
const byKind = (kind: string) => objects.filter((o) => o.kind === kind);

describe('deploy manifests (docker/deploy)', () => {
  it('the kustomization lists every manifest', () => {
    expect([...kustomization.resources].sort()).toEqual(files);
  });

  it('crds/ and docker/deploy/crds/ are what `npm run gen:crds` writes', async () => {
    const out = await mkdtemp(join(tmpdir(), 'cdi-gen-crds-'));
    try {
      await promisify(execFile)(process.execPath, [join(repo, 'scripts', 'gen-crds.ts'), '--out', out]);
      for (const dir of ['crds', join('docker', 'deploy', 'crds')]) {
        const yaml = (at: string) => readdirSync(at).filter((f) => f.endsWith('.yaml')).sort();
        const fix = `${dir} is stale: run \`npm run gen:crds\``;
        expect(yaml(join(repo, dir)), fix).toEqual(yaml(join(out, dir)));
        for (const file of yaml(join(out, dir))) {
          expect(readFileSync(join(repo, dir, file), 'utf8'), `${join(dir, file)}: ${fix}`).toBe(readFileSync(join(out, dir, file), 'utf8'));
        }
      }
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('kustomize (kubectl 1.20 kustomize) builds the same objects with the image tags applied', async () => {
    const { stdout } = await promisify(execFile)(await kubectlPath(), ['kustomize', deployDir], { maxBuffer: 64 << 20 });
    const built = parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    expect(built.map(key).sort()).toEqual(objects.map(key).sort());
    const images = built.flatMap((o) => ((o.spec as { template?: { spec: { containers: Array<{ image: string }> } } })?.template?.spec.containers ?? []).map((c) => c.image));
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(/^cdi-ts\/[a-z-]+:v0\.1\.0$/);
  });

  it.each(objects.map((o) => [`${o.file}: ${o.kind}/${o.metadata?.name}`, o] as const))('%s matches its OpenAPI shape', (_label, object) => {
    const errors: string[] = [];
    expect(object.apiVersion && object.kind && object.metadata?.name).toBeTruthy();
    if (hasModel(object.apiVersion, object.kind)) {
      validateModel(strip(object), modelName(object.apiVersion, object.kind), object.kind, errors);
    } else {
      const [group, version] = object.apiVersion.split('/');
      const crd = crds.find((c) => c.spec.group === group && c.spec.names.kind === object.kind);
      expect(crd, `no model and no CRD for ${object.apiVersion} ${object.kind}`).toBeDefined();
      const schema = crd!.spec.versions.find((v) => v.name === version)!.schema.openAPIV3Schema;
      const { metadata, ...rest } = strip(object);
      validateModel(metadata, 'V1ObjectMeta', `${object.kind}.metadata`, errors);
      validateSchema(rest, schema, object.kind, errors);
    }
    expect(errors).toEqual([]);
    if (clusterScoped.has(object.kind)) expect(object.metadata.namespace).toBeUndefined();
    else expect(object.metadata.namespace, 'namespaced objects name their namespace').toBeTruthy();
  });

  it('the validator catches unknown, mistyped and missing fields', () => {
    const errors: string[] = [];
    validateModel(
      { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replica: 2, template: { spec: { containers: [{ image: 'a', ports: [{ containerPort: '80' }] }] } } } },
      'V1Deployment',
      'Deployment',
      errors,
    );
    expect(errors).toEqual([
      'Deployment.spec.replica: unknown field of V1DeploymentSpec',
      'Deployment.spec.template.spec.containers[0].ports[0].containerPort: expected int32, got "80"',
      'Deployment.spec.template.spec.containers[0].name: required by V1Container',
      'Deployment.spec.selector: required by V1DeploymentSpec',
    ]);
  });

  it('registers CDI\'s webhooks with the cdi-apiserver Service, on paths it serves, failing closed without side effects', () => {
    const configurations = [...byKind('ValidatingWebhookConfiguration'), ...byKind('MutatingWebhookConfiguration')];
    expect(configurations.map((c) => c.metadata.name).sort()).toEqual(Object.values(WebhookConfigurations).sort());
    const service = byKind('Service').find((s) => s.metadata.labels?.['cdi.kubevirt.io'] === 'cdi-apiserver')!;
    const webhooks = configurations.flatMap((c) => (c.webhooks as Array<Record<string, unknown> & { clientConfig: { service: { namespace: string; name: string; path: string; port: number } } }>));
    expect(webhooks.map((w) => w.name).sort()).toEqual(['datavolume-mutate.cdi.kubevirt.io', 'datavolume-validate.cdi.kubevirt.io', 'pvc-mutate.cdi.kubevirt.io']);
    for (const w of webhooks) {
      expect(w).toMatchObject({ failurePolicy: 'Fail', sideEffects: 'None', admissionReviewVersions: ['v1'] });
      expect(w.clientConfig.service).toMatchObject({ namespace: service.metadata.namespace, name: service.metadata.name, port: 443 });
      expect(Object.keys(AdmissionEndpoints)).toContain(w.clientConfig.service.path);
      expect(validateWebhookConfiguration('mutating', { webhooks: [w] })).toEqual([]);
    }
    const pvcHook = webhooks.find((w) => w.name === 'pvc-mutate.cdi.kubevirt.io')!;
    expect(pvcHook.objectSelector).toEqual({ matchLabels: { 'cdi.kubevirt.io/applyStorageProfile': 'true' } });
    const editor = byKind('ClusterRole').find((r) => r.metadata.name === 'cdi.kubevirt.io:edit')!;
    expect(editor.rules).toContainEqual({ apiGroups: ['cdi.kubevirt.io'], resources: ['datavolumes/source'], verbs: ['create'] });
  });

  describe('workloads', () => {
    const deployments = byKind('Deployment') as unknown as Array<K8sObject & { spec: { replicas?: number; template: { metadata: { labels: Record<string, string> }; spec: PodSpec } } }>;
    interface Container {
      name: string;
      image: string;
      args?: string[];
      ports?: Array<{ name?: string; containerPort: number }>;
      securityContext?: Record<string, unknown> & { capabilities?: { drop?: string[] } };
      livenessProbe?: { httpGet?: { port: number; path: string } };
      readinessProbe?: { httpGet?: { port: number; path: string } };
      volumeMounts?: Array<{ name: string; mountPath: string }>;
    }
    interface PodSpec {
      serviceAccountName?: string;
      securityContext?: Record<string, unknown> & { seccompProfile?: { type: string } };
      containers: Container[];
      volumes?: Array<{ name: string; secret?: { secretName: string }; configMap?: { name: string } }>;
    }

    it.each(deployments.map((d) => [d.metadata.name, d] as const))('%s: restricted pod running a Dockerfile target', (_name, deployment) => {
      const pod = deployment.spec.template.spec;
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 107, runAsGroup: 107, seccompProfile: { type: 'RuntimeDefault' } });
      expect(objects.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === pod.serviceAccountName && o.metadata.namespace === deployment.metadata.namespace)).toBe(true);
      const volumeNames = new Set((pod.volumes ?? []).map((v) => v.name));
      for (const container of pod.containers) {
        expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
        const repository = container.image.replace(/[:@].*$/, '');
        const target = repository.replace(/^cdi-ts\//, '');
        const config = stageConfig(dockerfile, target);
        if (container.args) expect(container.args[0], 'args replace CMD, so they start with the entry script').toBe(config.cmd[0]);
        expect(kustomization.images.map((i) => i.name)).toContain(repository);
        const ports = new Set((container.ports ?? []).map((p) => p.containerPort));
        for (const probe of [container.livenessProbe, container.readinessProbe]) {
          expect(probe?.httpGet, 'every container is probed over HTTP(S)').toBeDefined();
          expect(ports.has(probe!.httpGet!.port)).toBe(true);
        }
        const healthPort = Number(/:(\d+)\//.exec(config.healthcheck![2]!)![1]);
        expect(ports.has(healthPort), 'the image HEALTHCHECK port is the container port').toBe(true);
        for (const mount of container.volumeMounts ?? []) expect(volumeNames.has(mount.name)).toBe(true);
        // a read-only root filesystem needs a writable /tmp
        expect(container.volumeMounts?.some((m) => m.mountPath === '/tmp')).toBe(true);
      }
      // mounted Secrets and ConfigMaps are ones the controller maintains
      const maintained = new Set([SigningKeySecret.name, ...cdiCertSpecs(Namespace).flatMap((s) => [s.secret, s.bundle, ...s.leaves.map((l) => l.secret)])]);
      for (const volume of pod.volumes ?? []) {
        const source = volume.secret?.secretName ?? volume.configMap?.name;
        if (source) expect(maintained.has(source), `${source} is not maintained by the controller`).toBe(true);
      }
    });

    it('the controller runs two leader-elected replicas with its namespace and pod name from the downward API', () => {
      const controller = deployments.find((d) => d.metadata.name === 'cdi-deployment')!;
      expect(controller.spec.replicas).toBe(2);
      const env = (controller.spec.template.spec.containers[0] as unknown as { env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> }).env;
      expect(env.find((e) => e.name === 'POD_NAMESPACE')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.namespace');
      expect(env.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
    });

    it('every Service selects a Deployment and targets a named container port', () => {
      for (const service of byKind('Service') as unknown as Array<K8sObject & { spec: { selector: Record<string, string>; ports: Array<{ targetPort: string | number }> } }>) {
        const match = deployments.find(
          (d) => d.metadata.namespace === service.metadata.namespace && Object.entries(service.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v),
        );
        expect(match, `Service ${service.metadata.name} selects nothing`).toBeDefined();
        const ports = match!.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
        for (const port of service.spec.ports) expect(ports.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort)).toBe(true);
      }
    });

    it('the APIService points at the token API Service', () => {
      const apiService = byKind('APIService')[0] as unknown as K8sObject & { spec: { group: string; version: string; service: { name: string; namespace: string; port: number } } };
      expect(apiService.metadata.name).toBe('v1beta1.upload.cdi.kubevirt.io');
      expect(apiService.spec).toMatchObject({ group: 'upload.cdi.kubevirt.io', version: 'v1beta1' });
      const service = byKind('Service').find((s) => s.metadata.name === apiService.spec.service.name && s.metadata.namespace === apiService.spec.service.namespace) as unknown as {
        spec: { ports: Array<{ port: number }> };
      };
      expect(service.spec.ports.map((p) => p.port)).toContain(apiService.spec.service.port);
    });
  });

  describe('RBAC against the API calls in the code', () => {
    const components = [
      { entry: 'src/cluster/controller/main.ts', serviceAccount: { name: 'cdi-sa', namespace: Namespace } },
      { entry: 'src/cluster/token-api/main.ts', serviceAccount: { name: 'cdi-apiserver', namespace: Namespace } },
      { entry: 'uploadproxy/main.ts', serviceAccount: { name: 'cdi-uploadproxy', namespace: Namespace } },
    ];
    const workers = ['importer/main.ts', 'uploadserver/main.ts'];
    // Modules that act only in the control plane's own namespace, by construction.
    const ownNamespaceModules = ['src/cluster/pki/kube-store.ts', 'src/cluster/leader-election.ts'];
    // The local VM runtime acts on VirtualMachineInstances only under cdi serve (startController
    // creates it when the API is the embedded one); on a cluster KubeVirt owns them.
    const clusterController = 'src/cluster/controller/main.ts';
    const embeddedOnly = (r: ApiRequirement) => r.group === 'kubevirt.io' && r.resource.startsWith('virtualmachineinstances');
    const derived = deriveApiCalls(repo, [...components.map((c) => c.entry), ...workers]);
    const describeReq = (r: ApiRequirement) => `${r.verb} ${r.group || 'core'}/${r.resource}${r.namespaced ? ` in ${r.namespace ?? 'any namespace'}` : ''}${r.name ? ` name=${r.name}` : ''} (${r.method} at ${r.at})`;

    it.each(components.map((c) => [c.entry, c] as const))('%s: every call is allowed, every rule is used', (_entry, component) => {
      const calls = derived.get(component.entry)!;
      expect(calls.unresolved, 'calls whose resource the scanner cannot evaluate').toEqual([]);
      expect(calls.requirements.length).toBeGreaterThan(0);
      const rules = rulesFor(objects as never, component.serviceAccount);
      const denied = calls.requirements
        .filter((r) => !(component.entry === clusterController && embeddedOnly(r)))
        .filter((r) => !allowedBy(rules, r, ownNamespaceModules.some((m) => r.at.startsWith(`${m}:`)) ? component.serviceAccount.namespace : undefined))
        .map(describeReq);
      expect([...new Set(denied)]).toEqual([]);
      const unused: string[] = [];
      for (const { rule, scope, source } of rules) {
        for (const group of rule.apiGroups ?? [])
          for (const resource of rule.resources ?? [])
            for (const verb of rule.verbs) {
              const used = calls.requirements.some((r) => ruleAllows({ apiGroups: [group], resources: [resource], verbs: [verb], ...(rule.resourceNames ? { resourceNames: rule.resourceNames } : {}) }, r) && (scope === 'cluster' || !r.namespace || r.namespace === scope));
              if (!used) unused.push(`${source} (${scope}): ${verb} ${group || 'core'}/${resource}`);
            }
      }
      expect(unused, 'granted but never called: remove from the RBAC manifests').toEqual([]);
    });

    it.each(workers)('%s (worker pod) makes no Kubernetes API calls', (entry) => {
      expect(derived.get(entry)!.requirements).toEqual([]);
    });
  });
});
