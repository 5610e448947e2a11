import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, KubeConfig, StorageV1Api, makeInformer, type Informer, type KubernetesObject, type ObjectCache, type V1PersistentVolumeClaim, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../api/logger.ts';
import { defaultBackoff, type BackoffPolicy } from './backoff.ts';
import { ClaimQueue } from './claim-queue.ts';
import { removeClaimData, syncClaim } from './claim-sync.ts';
import { killOrphan } from './container-process.ts';
import { podsRoot, socketsRoot } from './layout.ts';
import { KeyedQueue } from './keyed-queue.ts';
import { podReferences } from './pod-plan.ts';
import { removePodDir } from './pod-runtime.ts';
import { PodSync } from './pod-sync.ts';
import { orphanVolumes } from './volumes.ts';
import { isRoot } from './worker-privileges.ts';

export interface NodeAgentOptions {
  kubeConfig: KubeConfig;
  dataDir: string;
  logger: Logger;
  /** Crash-loop back-off (default 1 s doubling to 10 s); tests shorten it. */
  backoff?: BackoffPolicy;
  /** Readiness probes run at least this often (default 1000 ms). */
  maxProbeIntervalMs?: number;
  /** Longest wait for a pod's processes when the agent stops (default 10 s). */
  shutdownGraceMs?: number;
}

export interface NodeAgent {
  /** The owner-only directory of the upload servers' sockets: the only ones the upload proxy may use. */
  socketDir: string;
  close(): Promise<void>;
}

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The local node agent: the kubelet and the volume provisioner of `cdi serve`, speaking only
 * the Kubernetes API. Claims of the local storage class bind to files under the data dir; pods
 * of the product's worker images run as child processes. On start it kills processes an
 * earlier agent left behind, drops data of claims deleted meanwhile, and picks every pod and
 * claim up again from the API (running pods whose process is gone restart per restartPolicy).
 */
export async function startNodeAgent(o: NodeAgentOptions): Promise<NodeAgent> {
  const logger = o.logger.child({ component: 'node-agent' });
  const core = o.kubeConfig.makeApiClient(CoreV1Api);
  const storage = o.kubeConfig.makeApiClient(StorageV1Api);
  await fs.promises.mkdir(o.dataDir, { recursive: true });
  await killOrphans(o.dataDir, logger);
  if (isRoot()) await openDataDirToWorkers(o.dataDir, logger);
  const socketDir = await freshSocketDir(o.dataDir, logger);

  const pods = makeInformer<V1Pod>(o.kubeConfig, '/api/v1/pods', () => core.listPodForAllNamespaces());
  const claims = makeInformer<V1PersistentVolumeClaim>(o.kubeConfig, '/api/v1/persistentvolumeclaims', () => core.listPersistentVolumeClaimForAllNamespaces());

  const podSync = new PodSync({
    core,
    dataDir: o.dataDir,
    socketDir,
    projectRoot,
    logger,
    backoff: o.backoff ?? defaultBackoff,
    maxProbeIntervalMs: o.maxProbeIntervalMs ?? 1000,
    shutdownGraceMs: o.shutdownGraceMs ?? 10_000,
    pod: (ns, name) => pods.get(name, ns),
    claim: (ns, name) => claims.get(name, ns),
    requeuePod: (key, afterMs) => (afterMs ? podQueue.enqueueAfter(key, afterMs) : podQueue.enqueue(key)),
    claimWanted: (ns, name) => claimQueue.changed(ns, name),
  });
  const podQueue = new KeyedQueue((key) => podSync.sync(key), logger);
  const claimQueue = new ClaimQueue({
    sync: (ns, name) => syncClaim({ core, storage, dataDir: o.dataDir, logger, claim: (n, c) => claims.get(c, n), pods: (n) => pods.list(n) }, ns, name),
    remove: (ns, uid) => removeClaimData(o.dataDir, ns, uid, logger),
  }, logger);

  const keyOf = (obj: KubernetesObject) => `${obj.metadata?.namespace ?? 'default'}/${obj.metadata?.name ?? ''}`;
  for (const verb of ['add', 'update', 'delete'] as const) pods.on(verb, (p) => podQueue.enqueue(keyOf(p)));
  const claimChanged = (c: V1PersistentVolumeClaim) => {
    claimQueue.changed(c.metadata?.namespace ?? 'default', c.metadata?.name ?? '');
    for (const p of pods.list(c.metadata?.namespace)) if (podReferences(p).claims.has(c.metadata?.name ?? '')) podQueue.enqueue(keyOf(p));
  };
  claims.on('add', claimChanged);
  claims.on('update', claimChanged);
  claims.on('delete', (c) => {
    const uid = c.metadata?.uid;
    if (uid) claimQueue.removed(c.metadata?.namespace ?? 'default', c.metadata?.name ?? '', uid);
    claimChanged(c);
  });

  let closed = false;
  for (const [name, inf] of [['pods', pods], ['persistentvolumeclaims', claims]] as const) {
    (inf as Informer<KubernetesObject>).on('error', (err: unknown) => {
      if (closed) return;
      logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err, informer: name }, 'watch failed; restarting');
      setTimeout(() => {
        if (closed) return;
        (inf as Informer<KubernetesObject>).start().catch((startErr: unknown) => {
          logger.warn({ code: 'CDI_ERR_KUBE_REQUEST', err: String(startErr), informer: name }, 'watch did not restart');
        });
      }, 1000);
    });
  }
  // Claims first: a pod synced before its claim is known would be reported unschedulable.
  await claims.start();
  await pods.start();
  await sweep(o.dataDir, pods, claims, logger);
  logger.info({ dataDir: o.dataDir }, 'node agent started');

  return {
    socketDir,
    async close() {
      closed = true;
      await Promise.all([pods.stop(), claims.stop()]);
      await Promise.all([podQueue.close(), claimQueue.close()]);
      await podSync.close();
      await fs.promises.rm(socketDir, { recursive: true, force: true });
      logger.info({}, 'node agent stopped');
    },
  };
}

/** Longest unix socket path (sun_path is 108 bytes with its NUL). */
const maxSocketPath = 107;
/** Records a socket directory that had to live under the temp dir, so the next start removes it. */
const socketDirRecord = 'sockets.tmpdir';

/**
 * The pods' socket directory, under the data dir (`sockets/<pod uid>/upload.sock`), emptied of
 * whatever a crashed agent left. A data dir too long for sun_path falls back to a directory under
 * the temp dir, recorded in the data dir so a later start removes it too.
 */
async function freshSocketDir(dataDir: string, logger: Logger): Promise<string> {
  // no record: the socket directory was under the data dir (or this is the first start)
  const recorded = await fs.promises.readFile(path.join(dataDir, socketDirRecord), 'utf8').catch(() => undefined);
  if (recorded?.startsWith(path.join(os.tmpdir(), 'cdi-sockets-'))) await fs.promises.rm(recorded, { recursive: true, force: true });
  await fs.promises.rm(path.join(dataDir, socketDirRecord), { force: true });
  const dir = socketsRoot(dataDir);
  await fs.promises.rm(dir, { recursive: true, force: true });
  const longest = path.join(dir, '00000000-0000-0000-0000-000000000000', 'upload.sock');
  if (Buffer.byteLength(longest) <= maxSocketPath) {
    await fs.promises.mkdir(dir, { mode: 0o711 });
    return dir;
  }
  const tmp = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cdi-sockets-'));
  await fs.promises.chmod(tmp, 0o711);
  await fs.promises.writeFile(path.join(dataDir, socketDirRecord), tmp);
  logger.info({ socketDir: tmp }, 'data dir path too long for unix sockets; sockets live under the temp dir');
  return tmp;
}

/** Where the node agent keeps what workers reach; everything else in the data dir stays private. */
const workerReachable = new Set(['volumes', 'pods', 'sockets', 'cache']);

/**
 * Workers run as their pod's user, so they must be able to pass through the data dir (search,
 * not list) to their volumes. Everything else in it (the store, credentials, kubeconfig) loses
 * any permission for others, so passing through does not open them.
 */
async function openDataDirToWorkers(dataDir: string, logger: Logger): Promise<void> {
  for (const entry of await fs.promises.readdir(dataDir)) {
    if (workerReachable.has(entry)) continue;
    const p = path.join(dataDir, entry);
    const st = await fs.promises.lstat(p);
    if (!st.isSymbolicLink() && st.mode & 0o007) await fs.promises.chmod(p, st.mode & 0o7770);
  }
  const st = await fs.promises.stat(dataDir);
  if ((st.mode & 0o011) !== 0o011) {
    await fs.promises.chmod(dataDir, (st.mode & 0o7777) | 0o011);
    logger.info({ dataDir }, 'data dir made searchable (not listable) for the workers\' users');
  }
}

async function killOrphans(dataDir: string, logger: Logger): Promise<void> {
  const root = podsRoot(dataDir);
  for (const ns of await fs.promises.readdir(root).catch(() => [] as string[])) {
    for (const pod of await fs.promises.readdir(path.join(root, ns)).catch(() => [] as string[])) {
      const dir = path.join(root, ns, pod);
      for (const f of await fs.promises.readdir(dir).catch(() => [] as string[])) {
        if (f.endsWith('.pid')) await killOrphan(path.join(dir, f), logger);
      }
    }
  }
}

/** Data of claims and pods that were deleted while no agent was running. */
async function sweep(dataDir: string, pods: ObjectCache<V1Pod>, claims: ObjectCache<V1PersistentVolumeClaim>, logger: Logger): Promise<void> {
  const live = new Set(claims.list().map((c) => `${c.metadata?.namespace ?? 'default'}/${c.metadata?.uid}`));
  for (const v of await orphanVolumes(dataDir, live)) await removeClaimData(dataDir, v.namespace, v.uid, logger);
  const root = podsRoot(dataDir);
  for (const ns of await fs.promises.readdir(root).catch(() => [] as string[])) {
    for (const name of await fs.promises.readdir(path.join(root, ns)).catch(() => [] as string[])) {
      if (!pods.get(name, ns)) await removePodDir(dataDir, ns, name);
    }
  }
}
