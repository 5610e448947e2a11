/**
 * How `cdi image-upload` waits for its volume (src/cli/upload/object-wait.ts): by watching the one
 * object, against the embedded API server, with every request the client makes counted by the
 * KubeConfig that authenticates it; by polling when a server refuses to watch (a node:http stub,
 * since the real server always lets us); and as a child process, which must exit after each error.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, connect, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { KubeConfig, PatchStrategy, Watch, setHeaderOptions, type RequestContext } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Ann } from '../../src/api/annotations.ts';
import { CdiError } from '../../src/api/errors.ts';
import { parseImageUploadArgs } from '../../src/cli/upload/flags.ts';
import { UploadKube } from '../../src/cli/upload/kube.ts';
import { dvGroup, startHarness, type Harness } from '../apiserver/harness.ts';
import { eventually } from '../support/eventually.ts';

const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
const pvcs = '/api/v1/namespaces/default/persistentvolumeclaims';
const events = 'GET /api/v1/namespaces/default/events';
const plan = (kind: 'dv' | 'pvc', name: string) => parseImageUploadArgs([kind, name], { imagePath: 'unused', waitSecs: '60', create: false });

/** Sees every request client-node makes with it (GETs and watches alike) before it goes out. */
class CountingKubeConfig extends KubeConfig {
  readonly requests: string[] = [];
  /** The resourceVersion each watch started from (null: the current state). */
  readonly watchedFrom: Array<string | null> = [];
  /** Runs before the request is sent, so what it changes happens before the server reads the request. */
  beforeRequest: (url: URL, method: string) => Promise<void> = async () => undefined;

  override async applySecurityAuthentication(ctx: RequestContext): Promise<void> {
    const url = new URL(ctx.getUrl());
    const watching = url.searchParams.get('watch') === 'true';
    this.requests.push(`${ctx.getHttpMethod()} ${url.pathname}${watching ? ' watch' : ''}`);
    if (watching) this.watchedFrom.push(url.searchParams.get('resourceVersion'));
    await this.beforeRequest(url, ctx.getHttpMethod());
    return super.applySecurityAuthentication(ctx);
  }

  count(what: string): number {
    return this.requests.filter((r) => r === what).length;
  }
}

/** client-node's Watch, keeping the controller of every watch the server has answered. */
class RecordingWatch extends Watch {
  readonly open: AbortController[] = [];
  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const controller = await super.watch(...args);
    this.open.push(controller);
    return controller;
  }
}

function countingConfig(kubeconfigPath: string, server?: string): CountingKubeConfig {
  const kc = new CountingKubeConfig();
  kc.loadFromFile(kubeconfigPath);
  if (server) kc.clusters = kc.clusters.map((c) => ({ ...c, server }));
  return kc;
}

const mergePatch = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

/** A TCP relay in front of the API server whose connections the test can cut. */
async function startCuttableRelay(target: string): Promise<{ url: string; cutAll(): void; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
  };
  const server: TcpServer = createTcpServer((client) => {
    const upstream = connect(Number(port), hostname);
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    cutAll: () => sockets.forEach((s) => s.destroy()),
    close: async () => {
      sockets.forEach((s) => s.destroy());
      server.close();
      await once(server, 'close');
    },
  };
}

describe('image-upload waits by watching the volume', () => {
  let h: Harness;
  let n = 0;
  const name = () => `w${++n}`;
  beforeAll(async () => {
    h = await startHarness({ watchWindow: 5 });
  });
  afterAll(async () => {
    await h?.stop();
  });

  async function uploadPvc(pvcName: string, annotations: Record<string, string> = {}): Promise<void> {
    await h.core.createNamespacedPersistentVolumeClaim({
      namespace: 'default',
      body: {
        metadata: { name: pvcName, annotations: { [Ann.uploadTarget]: '', ...annotations } },
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
      },
    });
  }
  const annotate = (pvcName: string, annotations: Record<string, string>) =>
    h.core.patchNamespacedPersistentVolumeClaim({ namespace: 'default', name: pvcName, body: { metadata: { annotations } } }, mergePatch);

  it('sees a change made between its GET and its watch: one GET, one watch, replayed from the GET resourceVersion', async () => {
    const pvc = name();
    await uploadPvc(pvc);
    const kc = countingConfig(h.server.kubeconfigPath);
    kc.beforeRequest = async (url) => {
      if (url.searchParams.get('watch') === 'true') await annotate(pvc, { [Ann.podPhase]: 'Succeeded' });
    };
    await new UploadKube(kc, 'default', () => undefined).waitProcessed(pvc);
    expect(kc.requests).toEqual([`GET ${pvcs}/${pvc}`, `GET ${pvcs} watch`]);
  });

  it('sees the pod-ready annotation through the open watch, with the events list read alongside', async () => {
    const pvc = name();
    await uploadPvc(pvc);
    const kc = countingConfig(h.server.kubeconfigPath);
    const watch = new RecordingWatch(kc);
    const printed: string[] = [];
    const waiting = new UploadKube(kc, 'default', (l) => printed.push(l), watch).waitReady(plan('pvc', pvc));
    await eventually(() => watch.open.length === 1, 'the watch to be answered');
    await annotate(pvc, { [Ann.podReady]: 'true' });
    await waiting;
    expect(printed).toEqual([`Waiting for PVC ${pvc} upload pod to be ready...`, 'Pod now ready']);
    const eventChecks = kc.count(events);
    expect(eventChecks).toBeGreaterThanOrEqual(1);
    // Each events check also GETs the PVC for its UID; the wait itself read it once.
    expect(kc.count(`GET ${pvcs}/${pvc}`) - eventChecks).toBe(1);
    expect(kc.count(`GET ${pvcs} watch`)).toBe(1);
    expect(watch.open[0]!.signal.aborted).toBe(true);
  });

  it('after a 410 Expired, GETs again and watches from the current state', async () => {
    const pvc = name();
    await uploadPvc(pvc);
    const kc = countingConfig(h.server.kubeconfigPath);
    let watches = 0;
    kc.beforeRequest = async (url) => {
      if (url.searchParams.get('watch') !== 'true') return;
      if (++watches === 1) {
        // More changes than the server's window of 5: the first watch's resourceVersion is compacted away.
        for (let i = 0; i < 8; i++) await h.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `${pvc}-churn-${i}` } } });
      } else await annotate(pvc, { [Ann.podPhase]: 'Succeeded' });
    };
    await new UploadKube(kc, 'default', () => undefined).waitProcessed(pvc);
    expect(kc.requests).toEqual([`GET ${pvcs}/${pvc}`, `GET ${pvcs} watch`, `GET ${pvcs}/${pvc}`, `GET ${pvcs} watch`]);
    expect(kc.watchedFrom).toEqual([expect.stringMatching(/^\d+$/), null]);
  });

  it('resumes after the watch connection drops: a fresh GET, a new watch, and the change it then delivers', async () => {
    const pvc = name();
    await uploadPvc(pvc);
    const relay = await startCuttableRelay(h.server.url);
    try {
      const kc = countingConfig(h.server.kubeconfigPath, relay.url);
      const watch = new RecordingWatch(kc);
      const waiting = new UploadKube(kc, 'default', () => undefined, watch).waitProcessed(pvc);
      await eventually(() => watch.open.length === 1, 'the first watch to be answered');
      relay.cutAll();
      await eventually(() => watch.open.length === 2, 'a second watch to be answered');
      await annotate(pvc, { [Ann.podPhase]: 'Succeeded' });
      await waiting;
      expect(kc.requests).toEqual([`GET ${pvcs}/${pvc}`, `GET ${pvcs} watch`, `GET ${pvcs}/${pvc}`, `GET ${pvcs} watch`]);
      expect(kc.watchedFrom).toEqual([expect.stringMatching(/^\d+$/), expect.stringMatching(/^\d+$/)]);
    } finally {
      await relay.close();
    }
  });

  it('a DataVolume that turns WaitForFirstConsumer ends the wait with CDI_ERR_UPLOAD_DV_PHASE, and the watch is closed', async () => {
    const dv = name();
    await h.custom.createNamespacedCustomObject({
      ...dvGroup,
      namespace: 'default',
      body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: dv }, spec: { source: { upload: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } },
    });
    const kc = countingConfig(h.server.kubeconfigPath);
    const watch = new RecordingWatch(kc);
    const waiting = new UploadKube(kc, 'default', () => undefined, watch).waitReady(plan('dv', dv));
    const refused = expect(waiting).rejects.toMatchObject({ code: 'CDI_ERR_UPLOAD_DV_PHASE', message: expect.stringContaining('in WaitForFirstConsumer phase') });
    await eventually(() => watch.open.length === 1, 'the watch to be answered');
    await h.custom.patchNamespacedCustomObjectStatus({ ...dvGroup, namespace: 'default', name: dv, body: { status: { phase: 'WaitForFirstConsumer' } } }, mergePatch);
    await refused;
    expect(kc.count(`GET /apis/cdi.kubevirt.io/v1beta1/namespaces/default/datavolumes/${dv}`) - kc.count(events)).toBe(1);
    expect(watch.open[0]!.signal.aborted).toBe(true);
  });

  it("ignores the events of a deleted namesake, and fails on the DataVolume's own ErrClaimNotValid (matched by UID)", async () => {
    const pvc = name();
    await uploadPvc(pvc);
    const event = (suffix: string, involvedObject: Record<string, string>, reason: string, message: string) =>
      h.core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: `${pvc}.${suffix}` }, involvedObject, reason, message, type: 'Warning' } });
    await event('stale', { kind: 'PersistentVolumeClaim', name: pvc, namespace: 'default', uid: 'a-deleted-namesake' }, 'ProvisioningFailed', 'stale');
    const kc = countingConfig(h.server.kubeconfigPath);
    let lists = 0;
    kc.beforeRequest = async (url) => {
      // The second events check starts after the first has judged the stale event.
      if (`GET ${url.pathname}` === events && ++lists === 2) await annotate(pvc, { [Ann.podReady]: 'true' });
    };
    await new UploadKube(kc, 'default', () => undefined).waitReady(plan('pvc', pvc));

    const dv = name();
    const created = (await h.custom.createNamespacedCustomObject({
      ...dvGroup,
      namespace: 'default',
      body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: dv }, spec: { source: { upload: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } },
    })) as { metadata: { uid: string } };
    await event('bad', { kind: 'DataVolume', name: dv, namespace: 'default', uid: created.metadata.uid }, 'ErrClaimNotValid', 'the claim names no size');
    await expect(new UploadKube(kc, 'default', () => undefined).waitReady(plan('dv', dv))).rejects.toMatchObject({
      code: 'CDI_ERR_UPLOAD_CLAIM_INVALID',
      message: 'Claim not valid: the claim names no size',
    });
  });

  it('times out with the given error and closes its watch', async () => {
    const pvc = name();
    await uploadPvc(pvc);
    const kc = countingConfig(h.server.kubeconfigPath);
    const watch = new RecordingWatch(kc);
    const err = await new UploadKube(kc, 'default', () => undefined, watch).waitProcessed(pvc, 1000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CdiError);
    expect(err).toMatchObject({ code: 'CDI_ERR_UPLOAD_PROCESSING_TIMEOUT' });
    // A watch asked for but not yet answered when the time ran out is closed once it is answered.
    await eventually(() => watch.open.length === kc.count(`GET ${pvcs} watch`), 'every watch asked for to be answered');
    expect(watch.open.map((c) => c.signal.aborted)).toEqual(watch.open.map(() => true));
  });
});

/** An API server that cannot watch: it answers GETs of one PVC, and watches as told. */
async function startStubApi(watchAnswer: 403 | 405 | 'not-a-stream', readyAtGet: number) {
  const seen: string[] = [];
  let gets = 0;
  const pvc = (ready: boolean) => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name: 'stub', namespace: 'default', resourceVersion: String(gets), annotations: { [Ann.uploadTarget]: '', ...(ready ? { [Ann.podPhase]: 'Succeeded' } : {}) } },
  });
  const server: HttpServer = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    const watching = url.searchParams.get('watch') === 'true';
    seen.push(`${req.method} ${url.pathname}${watching ? ' watch' : ''}`);
    res.setHeader('Content-Type', 'application/json');
    if (watching && watchAnswer !== 'not-a-stream') {
      const reason = watchAnswer === 403 ? 'Forbidden' : 'MethodNotAllowed';
      res.writeHead(watchAnswer).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, code: watchAnswer }));
    } else if (watching) {
      res.end(JSON.stringify({ kind: 'PersistentVolumeClaimList', apiVersion: 'v1', metadata: {}, items: [pvc(false)] }));
    } else if (url.pathname === `${pvcs}/stub`) {
      res.end(JSON.stringify(pvc(++gets >= readyAtGet)));
    } else res.writeHead(404).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'stub', server: url, skipTLSVerify: true }],
    users: [{ name: 'stub', token: 'x' }],
    contexts: [{ name: 'stub', cluster: 'stub', user: 'stub' }],
    currentContext: 'stub',
  });
  return { seen, kc, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('image-upload polls an API server that will not watch', () => {
  it.each([403, 405, 'not-a-stream'] as const)('watch answered %s: tries to watch once, then reads every 500 ms until done', async (answer) => {
    const stub = await startStubApi(answer, 3);
    try {
      await new UploadKube(stub.kc, 'default', () => undefined).waitProcessed('stub');
      expect(stub.seen).toEqual([`GET ${pvcs}/stub`, `GET ${pvcs} watch`, `GET ${pvcs}/stub`, `GET ${pvcs}/stub`]);
    } finally {
      await stub.close();
    }
  });
});

describe('cdi image-upload exits after a failed wait', () => {
  let h: Harness;
  let image: string;
  let children: ReturnType<typeof spawn>[] = [];
  beforeAll(async () => {
    h = await startHarness();
    image = path.join(h.dataDir, 'image.raw');
    await writeFile(image, Buffer.alloc(4096));
  });
  afterEach(() => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    children = [];
  });
  afterAll(async () => {
    await h?.stop();
  });

  /** Runs the command, calls `whileWaiting` once it says it waits, and resolves when the process has exited. */
  async function run(args: string[], whileWaiting: () => Promise<unknown> = async () => undefined) {
    const child = spawn(cdi, ['image-upload', ...args, '--image-path', image, '--no-create', '--kubeconfig', h.server.kubeconfigPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith('Waiting for PVC ')) {
        await whileWaiting();
        break;
      }
    }
    child.stdout.resume();
    const [code] = await exited;
    return { code, stderr };
  }

  async function uploadPvc(pvcName: string): Promise<void> {
    await h.core.createNamespacedPersistentVolumeClaim({
      namespace: 'default',
      body: { metadata: { name: pvcName, annotations: { [Ann.uploadTarget]: '' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
    });
  }

  it('--wait-secs elapsed: CDI_ERR_UPLOAD_TIMEOUT, exit 1', async () => {
    await uploadPvc('never-ready');
    const res = await run(['pvc', 'never-ready', '--wait-secs', '1']);
    expect(res).toEqual({ code: 1, stderr: 'cdi: CDI_ERR_UPLOAD_TIMEOUT: timed out waiting for the condition\n' });
  }, 30_000);

  it('a ProvisioningFailed event while waiting: CDI_ERR_UPLOAD_PROVISIONING, exit 1', async () => {
    await uploadPvc('no-room');
    const { metadata } = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'no-room' });
    const res = await run(['pvc', 'no-room', '--wait-secs', '60'], () =>
      h.core.createNamespacedEvent({
        namespace: 'default',
        body: {
          metadata: { name: 'no-room.1' },
          involvedObject: { kind: 'PersistentVolumeClaim', name: 'no-room', namespace: 'default', uid: metadata!.uid! },
          reason: 'ProvisioningFailed',
          message: 'no space left on the pool',
          type: 'Warning',
        },
      }),
    );
    expect(res).toEqual({ code: 1, stderr: 'cdi: CDI_ERR_UPLOAD_PROVISIONING: Provisioning failed: no space left on the pool\n' });
  }, 30_000);

  it('a DataVolume that turns PendingPopulation while waiting: CDI_ERR_UPLOAD_DV_PHASE, exit 1', async () => {
    await h.custom.createNamespacedCustomObject({
      ...dvGroup,
      namespace: 'default',
      body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'pending' }, spec: { source: { upload: {} }, storage: { resources: { requests: { storage: '1Gi' } } } } },
    });
    await uploadPvc('pending');
    const res = await run(['dv', 'pending', '--wait-secs', '60'], () =>
      h.custom.patchNamespacedCustomObjectStatus({ ...dvGroup, namespace: 'default', name: 'pending', body: { status: { phase: 'PendingPopulation' } } }, mergePatch),
    );
    expect(res).toEqual({
      code: 1,
      stderr: 'cdi: CDI_ERR_UPLOAD_DV_PHASE: cannot upload to DataVolume in PendingPopulation phase, make sure the PVC is Bound, or use force-bind flag\n',
    });
  }, 30_000);
});
