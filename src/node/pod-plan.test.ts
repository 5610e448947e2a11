import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { Ann } from '../api/annotations.ts';
import { clonerPod, importerPod as controllerImporterPod, uploadServerPod, workerImages } from '../controller/pods.ts';
import type { ObjectData } from './pod-env.ts';
import { admitPod } from './pod-admission.ts';
import { launcherPod } from '../controller/vmi.ts';
import { buildDomain } from '../vm/domain.ts';
import { defaultPullPolicy, planPod, podReferences, portsToAllocate, type PlanInputs } from './pod-plan.ts';

function importerPod(): V1Pod {
  return {
    metadata: { name: 'importer-dv1', namespace: 'ns1', uid: 'pod-uid-1' },
    spec: {
      restartPolicy: 'OnFailure',
      containers: [
        {
          name: 'importer',
          image: 'cdi-ts/importer:latest',
          args: ['-v=1'],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          ports: [{ name: 'metrics', containerPort: 8443 }],
          env: [
            { name: 'IMPORTER_SOURCE', value: 'http' },
            { name: 'IMPORTER_ENDPOINT', value: 'http://127.0.0.1:1/disk.qcow2' },
            { name: 'IMPORTER_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'creds', key: 'accessKeyId' } } },
            { name: 'IMPORTER_CERT_DIR', value: '/certs' },
            { name: 'OWNER_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'IMPORTER_CHECKSUM', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'http_proxy', valueFrom: { configMapKeyRef: { name: 'cm', key: 'k' } } },
          ],
          volumeMounts: [
            { name: 'cdi-data-vol', mountPath: '/data' },
            { name: 'cdi-scratch-vol', mountPath: '/scratch' },
            { name: 'cdi-cert-vol', mountPath: '/certs' },
          ],
        },
      ],
      volumes: [
        { name: 'cdi-data-vol', persistentVolumeClaim: { claimName: 'dv1' } },
        { name: 'cdi-scratch-vol', persistentVolumeClaim: { claimName: 'dv1-scratch' } },
        { name: 'cdi-cert-vol', configMap: { name: 'certs-cm' } },
      ],
    },
  };
}

function inputs(pod: V1Pod): PlanInputs {
  return {
    pod,
    claims: new Map([
      ['dv1', { path: '/d/volumes/ns1/c1', block: false, capacityBytes: 1 << 20 }],
      ['dv1-scratch', { path: '/d/volumes/ns1/c2', block: false, capacityBytes: 2 << 20 }],
      ['blk', { path: '/d/volumes/ns1/c3.img', block: true, capacityBytes: 4 << 20 }],
    ]),
    secrets: new Map([['creds', { accessKeyId: Buffer.from('admin') }]]),
    configMaps: new Map<string, ObjectData>([
      ['cm', { k: Buffer.from('v') }],
      ['certs-cm', { 'ca.crt': Buffer.from('PEM') }],
    ]),
    hostPorts: new Map([[8443, 40001]]),
    podVolumeDir: (v) => `/d/pods/ns1/importer-dv1/volumes/${v}`,
    terminationLogPath: (c) => `/d/pods/ns1/importer-dv1/${c}.termination-log`,
    uploadSocketPath: '/d/sockets/uid1/upload.sock',
    projectRoot: '/repo',
  };
}

describe('planPod', () => {
  it('lists what the pod needs before it can start', () => {
    const pod = importerPod();
    expect(podReferences(pod)).toEqual({ claims: new Set(['dv1', 'dv1-scratch']), secrets: new Set(['creds']), configMaps: new Set(['certs-cm', 'cm']) });
    expect(portsToAllocate(pod)).toEqual([8443]);
    expect(admitPod(pod)).toEqual({ ok: true });
  });

  it('maps the importer pod onto a child process with CDI env and local paths', () => {
    const r = planPod(inputs(importerPod()));
    if (!r.ok) throw new Error(r.message);
    const [c] = r.plan.containers;
    expect(c).toMatchObject({ name: 'importer', kind: 'importer', entry: '/repo/importer/main.ts', fileSizeLimit: 1 << 20, fallbackToLogsOnError: true });
    expect(c?.args).toEqual(['-v=1']);
    expect(c?.user).toEqual({ uid: 107, gid: 107, groups: [] });
    expect(c?.env).toMatchObject({
      IMPORTER_SOURCE: 'http',
      IMPORTER_ACCESS_KEY_ID: 'admin',
      IMPORTER_CERT_DIR: '/d/pods/ns1/importer-dv1/volumes/cdi-cert-vol',
      OWNER_UID: 'pod-uid-1',
      IMPORTER_CHECKSUM: 'ns1',
      http_proxy: 'v',
      CDI_TARGET_PATH: '/d/volumes/ns1/c1/disk.img',
      CDI_SCRATCH_DIR: '/d/volumes/ns1/c2',
      CDI_TERMINATION_LOG: '/d/pods/ns1/importer-dv1/importer.termination-log',
      CDI_LISTEN_PORT: '40001',
    });
    expect(c?.env.CDI_LISTEN_SOCKET).toBeUndefined();
    expect(c?.env.CDI_SECRET_EXTRA_HEADER_DIRS).toBeUndefined();
    expect(r.plan.files).toEqual([{ path: '/d/pods/ns1/importer-dv1/volumes/cdi-cert-vol/ca.crt', data: Buffer.from('PEM'), mode: 0o644 }]);
  });

  it('materialises secretExtraHeaders Secrets and names their directories in index order', () => {
    const pod = importerPod();
    const c = pod.spec!.containers[0]!;
    c.volumeMounts = [
      ...(c.volumeMounts ?? []),
      { name: 'cdi-secret-extra-headers-vol-1', mountPath: '/extraheaders/1' },
      { name: 'cdi-secret-extra-headers-vol-0', mountPath: '/extraheaders/0' },
    ];
    pod.spec!.volumes = [
      ...(pod.spec!.volumes ?? []),
      { name: 'cdi-secret-extra-headers-vol-0', secret: { secretName: 'creds' } },
      { name: 'cdi-secret-extra-headers-vol-1', secret: { secretName: 'creds' } },
    ];
    const r = planPod(inputs(pod));
    if (!r.ok) throw new Error(r.message);
    const dir = (i: number) => `/d/pods/ns1/importer-dv1/volumes/cdi-secret-extra-headers-vol-${i}`;
    expect(JSON.parse(r.plan.containers[0]?.env.CDI_SECRET_EXTRA_HEADER_DIRS ?? '')).toEqual([dir(0), dir(1)]);
    expect(r.plan.files).toContainEqual({ path: `${dir(0)}/accessKeyId`, data: Buffer.from('admin'), mode: 0o644 });
  });

  it('points an archive import at the volume directory itself', () => {
    const pod = importerPod();
    pod.spec!.containers[0]!.env!.push({ name: 'IMPORTER_CONTENTTYPE', value: 'archive' });
    const r = planPod(inputs(pod));
    if (!r.ok) throw new Error(r.message);
    expect(r.plan.containers[0]?.env.CDI_TARGET_PATH).toBe('/d/volumes/ns1/c1');
  });

  it('maps a block volumeDevice to the claim file and its capacity', () => {
    const pod = importerPod();
    const c = pod.spec!.containers[0]!;
    c.volumeMounts = [];
    c.env = c.env!.filter((e) => e.name !== 'IMPORTER_CERT_DIR');
    c.volumeDevices = [{ name: 'cdi-data-vol', devicePath: '/dev/cdi-block-volume' }];
    pod.spec!.volumes = [{ name: 'cdi-data-vol', persistentVolumeClaim: { claimName: 'blk' } }];
    const r = planPod(inputs(pod));
    if (!r.ok) throw new Error(r.message);
    expect(r.plan.containers[0]).toMatchObject({ fileSizeLimit: 4 << 20, env: expect.objectContaining({ CDI_TARGET_PATH: '/d/volumes/ns1/c3.img' }) });
  });

  it('turns the upload server readiness probe into a local HTTPS probe on the mapped port', () => {
    const pod = importerPod();
    const c = pod.spec!.containers[0]!;
    c.image = 'quay.io/x/cdi-ts/uploadserver:v2';
    c.env = [{ name: 'DESTINATION', value: '/data/disk.img' }];
    c.readinessProbe = { httpGet: { path: '/healthz', port: 8443, scheme: 'HTTPS' }, periodSeconds: 5 };
    const r = planPod(inputs(pod));
    if (!r.ok) throw new Error(r.message);
    expect(r.plan.containers[0]).toMatchObject({ kind: 'uploadServer', entry: '/repo/uploadserver/main.ts' });
    expect(r.plan.containers[0]?.env.CDI_LISTEN_SOCKET).toBe('/d/sockets/uid1/upload.sock');
    expect(r.plan.containers[0]?.readiness).toEqual({
      probe: { type: 'http', scheme: 'https', port: 40001, path: '/healthz', headers: {} },
      timing: { initialDelayMs: 0, periodMs: 5000, timeoutMs: 1000, successThreshold: 1, failureThreshold: 3 },
    });
  });

  it('says why a pod cannot start, in the kubelet words', () => {
    const missingSecret = inputs(importerPod());
    missingSecret.secrets = new Map();
    expect(planPod(missingSecret)).toEqual({ ok: false, reason: 'CreateContainerConfigError', message: 'secret "creds" not found' });

    const missingKey = inputs(importerPod());
    missingKey.secrets = new Map([['creds', {}]]);
    expect(planPod(missingKey)).toMatchObject({ ok: false, message: "couldn't find key accessKeyId in Secret ns1/creds" });

    const foreign = importerPod();
    foreign.spec!.containers[0]!.image = 'busybox:1.36';
    expect(admitPod(foreign)).toMatchObject({ ok: false, reason: 'ErrImageNeverPull', message: expect.stringContaining('image busybox:1.36 cannot run locally') });
    expect(planPod(inputs(foreign))).toMatchObject({ ok: false, reason: 'ErrImageNeverPull' });

    const unbound = inputs(importerPod());
    unbound.claims = new Map();
    expect(planPod(unbound)).toMatchObject({ ok: false, reason: 'Unschedulable' });
  });

  it('says plainly that init containers do not run here', () => {
    const pod = importerPod();
    pod.spec!.initContainers = [{ name: 'init', image: 'cdi-ts/importer:latest' }];
    expect(planPod(inputs(pod))).toEqual({ ok: false, reason: 'CreateContainerConfigError', message: 'init containers are not supported by the local node agent' });
  });

  it('refuses configMap item paths that escape the volume directory', () => {
    const pod = importerPod();
    pod.spec!.volumes![2] = { name: 'cdi-cert-vol', configMap: { name: 'certs-cm', items: [{ key: 'ca.crt', path: '../../escape' }] } };
    expect(planPod(inputs(pod))).toMatchObject({ ok: false, message: expect.stringContaining('escapes the volume') });
  });

  it('runs the controller restricted worker pods as their runAsUser, fsGroup as the volume group', () => {
    const claim = { metadata: { name: 'dv1', namespace: 'ns1', uid: 'c1' }, spec: { resources: { requests: { storage: '1Mi' } } } };
    const images = workerImages();
    const tls = { 'tls.key': Buffer.from('K'), 'tls.crt': Buffer.from('C'), 'ca.crt': Buffer.from('CA') };
    const config = { spec: { podResourceRequirements: { limits: { cpu: '1', memory: '1G' } } } } as never;
    const pods = [
      uploadServerPod({ pvc: claim, config, image: images.uploadServer }),
      clonerPod({ source: claim, target: claim, name: 'c1-source-pod', secret: 'clone-tls', image: images.cloner, uploadUrl: 'https://u', serverName: 'u', ownerUid: 'dv', config }),
    ];
    for (const pod of pods) {
      expect(pod.spec?.securityContext?.runAsUser).toBe(107);
      const i = inputs(pod);
      i.secrets = new Map([['cdi-upload-dv1', tls], ['clone-tls', tls]]);
      const r = planPod(i);
      if (!r.ok) throw new Error(r.message);
      expect(r.plan.containers).toHaveLength(1);
      expect(admitPod({ ...pod, metadata: { ...pod.metadata, uid: 'assigned-by-the-api' } })).toEqual({ ok: true });
      expect(r.plan.containers[0]).toMatchObject({ user: { uid: 107, gid: 107, groups: [107] }, memoryLimit: 1e9 });
    }
  });
});

describe('pullMethod node: the image volume', () => {
  const nodePullPod = () => withUid(controllerImporterPod({
    pvc: {
      metadata: { name: 'dv1', namespace: 'ns1', uid: 'c1', annotations: { [Ann.importSource]: 'registry', [Ann.importEndpoint]: 'docker://127.0.0.1:5000/disks/fedora:40', [Ann.registryImportMethod]: 'node' } },
      spec: { resources: { requests: { storage: '1Mi' } } },
    },
    config: undefined,
    image: workerImages().importer,
  }));
  // The API server gives a pod its uid.
  const withUid = (pod: V1Pod): V1Pod => ({ ...pod, metadata: { ...pod.metadata, uid: 'pod-uid-1' } });

  it('is pulled into the pod volume dir and named to the importer by CDI_IMAGE_VOLUME_DIR', () => {
    const pod = nodePullPod();
    expect(admitPod(pod)).toMatchObject({ ok: true });
    const result = planPod(inputs(pod));
    if (!result.ok) throw new Error(result.message);
    const dir = '/d/pods/ns1/importer-dv1/volumes/cdi-image-vol';
    expect(result.plan.imageVolumes).toEqual([{ volume: 'cdi-image-vol', reference: '127.0.0.1:5000/disks/fedora:40', dir, pullPolicy: 'IfNotPresent' }]);
    expect(result.plan.containers[0]?.env).toMatchObject({ IMPORTER_PULL_METHOD: 'node', CDI_IMAGE_VOLUME_DIR: dir });
  });

  it('takes the pull policy (Never reads the node image store only) and refuses an image volume without a reference', () => {
    const never = nodePullPod();
    never.spec!.volumes!.find((v) => v.image)!.image!.pullPolicy = 'Never';
    const planned = planPod(inputs(never));
    expect(planned.ok && planned.plan.imageVolumes[0]?.pullPolicy).toBe('Never');
    const empty = nodePullPod();
    empty.spec!.volumes!.find((v) => v.image)!.image!.reference = '';
    expect(planPod(inputs(empty))).toMatchObject({ ok: false, reason: 'CreateContainerConfigError', message: 'image volume "cdi-image-vol" has no reference' });
  });
});

describe('containerDisk: the launcher pod\'s image volumes', () => {
  it('pulls the path of a containerDisk as the mount\'s subPath with the VMI\'s pull secret, and the kubelet\'s default policy', () => {
    const built = buildDomain('vm1', {
      domain: { devices: { disks: [{ name: 'a', disk: {} }, { name: 'b', disk: {} }] } },
      volumes: [
        { name: 'a', containerDisk: { image: 'reg.local:5000/vms/a:v1', imagePullSecret: 'pull' } },
        { name: 'b', containerDisk: { image: 'reg.local:5000/vms/b:latest', path: '/custom/b.qcow2' } },
      ],
    }, new Map(), 'tcg');
    if (!built.ok) throw new Error(built.problems.join('; '));
    const launcher = launcherPod({ metadata: { name: 'vm1', namespace: 'ns1', uid: 'vmi-uid' } }, built.domain, built.volumes, 'abcde', built.imagePullSecrets);
    const pod: V1Pod = { ...launcher, metadata: { ...launcher.metadata, uid: 'pod-uid-1' } };
    expect(admitPod(pod)).toEqual({ ok: true });
    expect([...podReferences(pod).secrets]).toEqual(['pull']);
    const r = planPod(inputs(pod));
    if (!r.ok) throw new Error(r.message);
    // The test inputs place every pod's volumes under one fixed pod dir.
    const dir = (v: string) => `/d/pods/ns1/importer-dv1/volumes/${v}`;
    expect(r.plan.imageVolumes).toEqual([
      { volume: 'a', reference: 'reg.local:5000/vms/a:v1', dir: dir('a'), pullPolicy: 'IfNotPresent' },
      { volume: 'b', reference: 'reg.local:5000/vms/b:latest', dir: dir('b'), pullPolicy: 'Always', entry: 'custom/b.qcow2' },
    ]);
    const mounts = JSON.parse(r.plan.containers[0]?.env.CDI_MOUNTS ?? '[]') as Array<{ podPath: string; hostPath: string }>;
    expect(mounts).toContainEqual({ podPath: '/var/run/kubevirt/container-disks/b.img', hostPath: `${dir('b')}/custom/b.qcow2` });
    expect(r.plan.confined.some((c) => c.path.startsWith(dir('b')))).toBe(false);
    expect(['r/x', 'r/x:latest', 'r:5000/x', 'r/x:v1', 'r/x@sha256:00'].map(defaultPullPolicy)).toEqual(['Always', 'Always', 'Always', 'IfNotPresent', 'IfNotPresent']);
  });
});
