import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { admitPod } from './pod-admission.ts';
import { podReferences, portsToAllocate } from './pod-plan.ts';
import { launcherPod } from '../controller/vmi.ts';
import { buildDomain } from '../vm/domain.ts';

const raw = (spec: unknown) => ({ metadata: { name: 'p', uid: '0b6f3a51-uid' }, spec }) as unknown as V1Pod;
const worker = { name: 'c', image: 'cdi-ts/importer:latest' };

describe('admitPod', () => {
  it('refuses every malformed shape with the field it found, and never throws', () => {
    const cases: Array<[unknown, string]> = [
      [null, 'pod is not an object'],
      [{ metadata: { name: 'p', uid: '../..' }, spec: {} }, 'metadata.uid is not a uid'],
      [raw('spec'), 'spec is not an object'],
      [raw({ containers: [null] }), 'spec.containers[0] is not an object'],
      [raw({ containers: {} }), 'spec.containers is not a non-empty array'],
      [raw({ containers: [worker], volumes: { a: { name: 'a' } } }), 'spec.volumes is not an array'],
      [raw({ containers: [worker], volumes: [null] }), 'spec.volumes[0] is not an object with a name'],
      [raw({ containers: [{ ...worker, env: { NODE_OPTIONS: 'x' } }] }), 'spec.containers[0].env is not an array'],
      [raw({ containers: [{ ...worker, env: [{ value: 'x' }] }] }), 'spec.containers[0].env[0].name is not a string'],
      [raw({ containers: [{ ...worker, args: [1] }] }), 'spec.containers[0].args[0] is not a string'],
      [raw({ containers: [{ ...worker, volumeMounts: [{ name: 'v', mountPath: '/data', subPath: 3 }] }] }), 'spec.containers[0].volumeMounts[0].subPath is not a string'],
      [raw({ containers: [{ ...worker, readinessProbe: 'exec' }] }), 'spec.containers[0].readinessProbe is not an object'],
      [raw({ containers: [worker], initContainers: [worker] }), 'spec.initContainers is not supported'],
    ];
    for (const [pod, message] of cases) expect(admitPod(pod)).toEqual({ ok: false, reason: 'Unschedulable', message: `${message}: the local node agent refuses to run it` });
  });

  it('reads references and ports of a malformed pod as empty instead of throwing', () => {
    const pod = raw({ containers: [null, { name: 'c', env: 'x', envFrom: [null], ports: {} }], volumes: { a: 1 } });
    expect(podReferences(pod)).toEqual({ claims: new Set(), secrets: new Set(), configMaps: new Set() });
    expect(portsToAllocate(pod)).toEqual([]);
  });

  it('admits what the product creates: -v args, contract env, an httpGet probe, the restricted context', () => {
    const pod = raw({
      securityContext: { runAsNonRoot: true, runAsUser: 107, fsGroup: 107, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          ...worker,
          args: ['-v=1'],
          env: [{ name: 'IMPORTER_SOURCE', value: 'http' }, { name: 'IMPORTER_EXTRA_HEADER_0', value: 'a: b' }, { name: 'https_proxy', value: 'http://p' }],
          readinessProbe: { httpGet: { path: '/healthz', port: 8443 } },
          securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        },
      ],
    });
    expect(admitPod(pod)).toEqual({ ok: true });
  });

  it('holds the upload server and the cloner to their own contracts', () => {
    const upload = raw({ containers: [{ name: 'c', image: 'cdi-ts/uploadserver:latest', env: [{ name: 'IMPORTER_ENDPOINT', value: 'x' }] }] });
    expect(admitPod(upload)).toMatchObject({ ok: false, message: expect.stringContaining('env "IMPORTER_ENDPOINT" is not a variable of the uploadServer worker\'s contract') });
    const cloner = raw({ containers: [{ name: 'c', image: 'cdi-ts/cloner:latest', env: [{ name: 'IMPORTER_EXTRA_HEADER_0', value: 'x' }] }] });
    expect(admitPod(cloner)).toMatchObject({ ok: false, message: expect.stringContaining('env "IMPORTER_EXTRA_HEADER_0" is not a variable of the cloner worker\'s contract') });
  });
});

describe('admitPod with virt-launcher pods', () => {
  const built = buildDomain('vm1', { volumes: [{ name: 'root', dataVolume: { name: 'root-dv' } }] }, new Map([['root-dv', { block: false }]]), 'kvm');
  if (!built.ok) throw new Error(built.problems.join('; '));
  const p = { ...launcherPod({ metadata: { name: 'vm1', uid: 'vmi-uid' } }, built.domain, built.volumes, 'abcde'), metadata: { name: 'x', uid: 'pod-uid' } };
  const compute = p.spec!.containers[0]!;
  const withCompute = (c: object) => ({ ...p, spec: { ...p.spec!, containers: [{ ...compute, ...c }] } });

  it('admits the launcher pod the VMI controller builds', () => {
    expect(admitPod(p)).toEqual({ ok: true });
  });

  it('refuses a command, a variable outside the launcher contract, or a container name the image has no entry for', () => {
    expect(admitPod(withCompute({ command: ['/bin/sh'] }))).toMatchObject({ ok: false, message: expect.stringContaining('command is set') });
    expect(admitPod(withCompute({ env: [{ name: 'LD_PRELOAD', value: 'x' }] }))).toMatchObject({ ok: false, message: expect.stringContaining('"LD_PRELOAD" is not a variable of the virtLauncher worker\'s contract') });
    expect(admitPod(withCompute({ name: 'sidecar' }))).toMatchObject({ ok: false, reason: 'ErrImageNeverPull' });
  });
});
