import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PortMapAnnotation } from '../../src/api/local-ports.ts';
import { LocalVolumePathAnnotation } from '../../src/node/layout.ts';
import { eventually, startHarness, type Harness } from './harness.ts';

let h: Harness;
let server: http.Server;
let base: string;
const image = Buffer.alloc(1 << 20);
for (let i = 0; i < image.length; i += 4096) image.write(`block ${i}`, i);
/** path → how many GETs to fail with 500 before serving the image; '/hang' never answers. */
const failuresLeft = new Map<string, number>();

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/hang') return;
    const left = failuresLeft.get(req.url ?? '') ?? 0;
    if (left > 0) {
      failuresLeft.set(req.url ?? '', left - 1);
      res.statusCode = 500;
      res.end('try again');
      return;
    }
    res.setHeader('content-length', image.length);
    res.end(req.method === 'HEAD' ? undefined : image);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function boundClaim(name: string): Promise<string> {
  await h.core.createNamespacedPersistentVolumeClaim({
    namespace: 'default',
    body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Mi' } } } },
  });
  return eventually(async () => {
    const c = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name });
    return c.status?.phase === 'Bound' ? c.metadata?.annotations?.[LocalVolumePathAnnotation] : undefined;
  }, `claim ${name} bound`);
}

/** An importer pod shaped like CDI's (cdi-upstream §3.1). */
function importerPod(name: string, claim: string, env: Record<string, string>): V1Pod {
  return {
    metadata: { name },
    spec: {
      restartPolicy: 'OnFailure',
      containers: [
        {
          name: 'importer',
          image: 'cdi-ts/importer:latest',
          args: ['-v=1'],
          terminationMessagePolicy: 'FallbackToLogsOnError',
          ports: [{ name: 'metrics', containerPort: 8443, protocol: 'TCP' }],
          env: [
            ...Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
            { name: 'IMPORTER_IMAGE_SIZE', value: '8Mi' },
            { name: 'OWNER_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
          ],
          volumeMounts: [{ name: 'cdi-data-vol', mountPath: '/data' }],
        },
      ],
      volumes: [{ name: 'cdi-data-vol', persistentVolumeClaim: { claimName: claim } }],
    },
  };
}

async function pod(name: string): Promise<V1Pod> {
  return h.core.readNamespacedPod({ namespace: 'default', name });
}

async function podPhase(name: string, phase: string): Promise<V1Pod> {
  return eventually(async () => {
    const p = await pod(name);
    return p.status?.phase === phase ? p : undefined;
  }, `pod ${name} ${phase}`);
}

function pidOf(name: string): number | undefined {
  const file = `${h.dataDir}/pods/default/${name}/importer.pid`;
  return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as { pid: number }).pid : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('worker pods as child processes', () => {
  it('runs an importer that fails twice, restarts it with back-off and ends Succeeded with restartCount 2', async () => {
    failuresLeft.set('/flaky.raw', 2);
    const dir = await boundClaim('flaky');
    await h.core.createNamespacedPod({ namespace: 'default', body: importerPod('importer-flaky', 'flaky', { IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${base}/flaky.raw` }) });
    const done = await podPhase('importer-flaky', 'Succeeded');
    const cs = done.status?.containerStatuses?.[0];
    expect(cs?.restartCount).toBe(2);
    expect(cs?.state?.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
    expect(cs?.state?.terminated?.message).toContain('Import Complete');
    expect(cs?.lastState?.terminated).toMatchObject({ exitCode: 1, reason: 'Error' });
    expect(cs?.lastState?.terminated?.message).toContain('expected status code 200, got 500');
    expect(done.status?.podIP).toBe('127.0.0.1');
    expect(done.spec?.nodeName).toBe('cdi-local');
    expect(JSON.parse(done.metadata?.annotations?.[PortMapAnnotation] ?? '{}')).toHaveProperty('8443');
    expect(done.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });

    const written = fs.readFileSync(`${dir}/disk.img`);
    expect(createHash('sha256').update(written.subarray(0, image.length)).digest('hex')).toBe(createHash('sha256').update(image).digest('hex'));
    const log = await h.core.readNamespacedPodLog({ namespace: 'default', name: 'importer-flaky' });
    expect(log).toContain('import complete');
    const events = await eventually(async () => {
      const list = await h.core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=importer-flaky' });
      const counts = (reason: string) => list.items.filter((e) => e.reason === reason).map((e) => e.count);
      return JSON.stringify([counts('Started'), counts('BackOff')]) === '[[3],[2]]' ? list.items : undefined;
    }, 'one Started event counted three times, one BackOff twice');
    expect(events.find((e) => e.reason === 'Scheduled')?.message).toBe('Successfully assigned default/importer-flaky to cdi-local');
  });

  it('imports a blank image (IMPORTER_SOURCE=none) into a volume', async () => {
    const dir = await boundClaim('blank');
    await h.core.createNamespacedPod({ namespace: 'default', body: importerPod('importer-blank', 'blank', { IMPORTER_SOURCE: 'none' }) });
    const done = await podPhase('importer-blank', 'Succeeded');
    expect(done.status?.containerStatuses?.[0]?.restartCount).toBe(0);
    expect(fs.statSync(`${dir}/disk.img`).size).toBeGreaterThan(0);
  });

  it('resolves secretKeyRef, holds the pod Pending with the kubelet reason while the secret is missing', async () => {
    await boundClaim('needs-secret');
    const p = importerPod('importer-secret', 'needs-secret', { IMPORTER_SOURCE: 'none' });
    p.spec!.containers[0]!.env!.push({ name: 'IMPORTER_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: 'later', key: 'accessKeyId' } } });
    await h.core.createNamespacedPod({ namespace: 'default', body: p });
    const pending = await eventually(async () => {
      const got = await pod('importer-secret');
      return got.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? got : undefined;
    }, 'CreateContainerConfigError');
    expect(pending.status?.phase).toBe('Pending');
    expect(pending.status?.containerStatuses?.[0]?.state?.waiting?.message).toBe('secret "later" not found');
    await h.core.createNamespacedSecret({ namespace: 'default', body: { metadata: { name: 'later' }, stringData: { accessKeyId: 'me' } } });
    await podPhase('importer-secret', 'Succeeded');
  });

  it('marks pods of images it cannot run Pending with a condition saying so', async () => {
    await h.core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'busybox' }, spec: { containers: [{ name: 'c', image: 'busybox:1.36' }] } } });
    const p = await eventually(async () => {
      const got = await pod('busybox');
      return got.status?.conditions?.length ? got : undefined;
    }, 'busybox status');
    expect(p.status?.phase).toBe('Pending');
    expect(p.status?.conditions?.[0]).toMatchObject({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' });
    expect(p.status?.conditions?.[0]?.message).toContain('image busybox:1.36 cannot run locally');
  });

  it('reconciles a running pod after the agent restarts, and deleting the pod stops its process', async () => {
    await boundClaim('hang');
    const hang = importerPod('importer-hang', 'hang', { IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${base}/hang` });
    hang.spec!.containers[0]!.readinessProbe = { httpGet: { path: '/metrics', port: 8443, scheme: 'HTTPS' }, periodSeconds: 10 };
    await h.core.createNamespacedPod({ namespace: 'default', body: hang });
    const ready = await eventually(async () => {
      const p = await pod('importer-hang');
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    }, 'Ready from the HTTPS readiness probe');
    expect(ready.status?.phase).toBe('Running');
    expect(ready.status?.containerStatuses?.[0]?.ready).toBe(true);
    const firstPid = await eventually(async () => pidOf('importer-hang'), 'pid file');

    await h.stopAgent();
    expect(alive(firstPid)).toBe(false);
    await h.startAgent();
    const again = await eventually(async () => {
      const p = await pod('importer-hang');
      const cs = p.status?.containerStatuses?.[0];
      return cs?.restartCount === 1 && cs.state?.running ? p : undefined;
    }, 'pod restarted by the new agent');
    expect(again.status?.containerStatuses?.[0]?.lastState?.terminated?.reason).toBe('ContainerStatusUnknown');
    const secondPid = await eventually(async () => pidOf('importer-hang'), 'new pid file');
    expect(secondPid).not.toBe(firstPid);
    expect(alive(secondPid)).toBe(true);

    await h.core.deleteNamespacedPod({ namespace: 'default', name: 'importer-hang' });
    await eventually(async () => !alive(secondPid), 'process stopped after pod deletion');
    await eventually(async () => !fs.existsSync(`${h.dataDir}/pods/default/importer-hang`), 'pod directory removed');
  });
});
