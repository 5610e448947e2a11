import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { copyFile, link, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../api/logger.ts';
import type { Credentials } from '../sources/registry/auth.ts';
import { pollImageDigest } from '../sources/registry/digest.ts';
import { openRegistrySource } from '../sources/registry/registry-source.ts';
import { parseImageReference } from '../sources/registry/reference.ts';
import type { PullPolicy } from './pod-plan.ts';
import { machineCredentials, pullSecretCredentials, type MachineCredentials } from '../sources/registry/machine-auth.ts';

/**
 * A Kubernetes image volume (`volumes[].image`) as the local node provides it. Only the file a
 * pod reads is materialised: the containerDisk's disk at `<dir>/disk/disk.img`, or the file a
 * mount's `subPath` names at `<dir>/<subPath>`. Pulled files are kept in the node's image store
 * under the data dir, keyed by the manifest digest, and hard-linked into each pod's volume, so a
 * second pod (a VM's next run) of the same image pulls nothing. Credentials: the pod's
 * imagePullSecrets first, then the machine's (machine-auth.ts), as the kubelet tries them. An
 * image that needed credentials is reused only after the registry let this pod's credentials
 * resolve it again.
 */
export interface ImageVolumeRequest {
  reference: string;
  dir: string;
  pullPolicy: PullPolicy;
  /** The image path to materialise (a mount's subPath); without it, the one file under /disk. */
  entry?: string;
  /** The node's image store. */
  storeDir: string;
  /** The data of the pod's imagePullSecrets, in order. */
  pullSecrets?: ReadonlyArray<Readonly<Record<string, Buffer>>>;
}

export interface ImageVolumePull {
  /** What the credentials lookup skipped (credential helpers), for a pod event. */
  skipped: string[];
  /** The manifest digest the volume holds. */
  digest: string;
  /** False when the store already had it (the kubelet's "already present on machine"). */
  pulled: boolean;
}

/** Loopback registries speak plain HTTP without being listed, as dockerd's default insecure 127.0.0.0/8. */
function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** A failed pull, with what the credentials lookup skipped (the likely reason it was denied). */
export class ImageVolumePullError extends Error {
  readonly skipped: string[];
  /** ErrImageNeverPull: the policy forbids a pull and the store does not have the image. */
  readonly neverPull: boolean;
  constructor(cause: unknown, skipped: string[], neverPull = false) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.skipped = skipped;
    this.neverPull = neverPull;
  }
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

export async function pullImageVolume(req: ImageVolumeRequest, logger: Logger, lookup: (host: string, repository: string) => Promise<MachineCredentials> = machineCredentials): Promise<ImageVolumePull> {
  const entry = req.entry?.replace(/^\/+/, '');
  const target = path.join(req.dir, entry ?? path.join('disk', 'disk.img'));
  const url = `docker://${req.reference}`;
  const ref = parseImageReference(url);
  const refFile = path.join(req.storeDir, 'refs', sha(req.reference));
  const stored = (digest: string) => path.join(req.storeDir, 'sha256', digest.replace(/^sha256:/, ''), entry === undefined ? 'disk' : sha(entry).slice(0, 32));
  const exists = (f: string) => stat(f).then(() => true, () => false);

  if (req.pullPolicy !== 'Always') {
    const known = await readRef(refFile);
    // An image pulled with credentials is not handed to a pod that has not shown it may pull it
    // (the kubelet's "ensure secret pulled images"): only anonymous pulls are reused unasked.
    if (known && !known.authenticated && (await exists(stored(known.digest)))) {
      await place(stored(known.digest), target);
      return { skipped: [], digest: known.digest, pulled: false };
    }
    if (req.pullPolicy === 'Never') {
      const why = known?.authenticated ? 'was pulled with credentials, which pull policy Never cannot check for this pod' : 'is not present with pull policy of Never';
      throw new ImageVolumePullError(`Container image "${req.reference}" ${why}`, [], true);
    }
  }
  const fromSecret = (req.pullSecrets ?? []).map((data) => pullSecretCredentials(data, ref.registry, ref.repository)).find((c) => c !== undefined);
  const found: MachineCredentials = fromSecret ? { credentials: fromSecret, file: 'imagePullSecrets', skipped: [] } : await lookup(ref.registry, ref.repository);
  const credentials: Credentials | undefined = found.credentials;
  const insecure = isLoopback(ref.registry);
  let digest: string;
  try {
    digest = await pollImageDigest(url, { insecure, ...(credentials ? { credentials } : {}) });
  } catch (err) {
    throw new ImageVolumePullError(err, found.skipped);
  }
  const file = stored(digest);
  const record = JSON.stringify({ digest, authenticated: credentials !== undefined });
  if (await exists(file)) {
    await mkdir(path.dirname(refFile), { recursive: true });
    await writeFile(refFile, record);
    await place(file, target);
    return { skipped: found.skipped, digest, pulled: false };
  }
  logger.info({ image: req.reference, digest, credentials: found.file ?? 'none' }, 'pulling image volume');
  // Pinned to the digest just resolved, so the store's key is what was pulled.
  const pinned = `docker://${ref.registry}/${ref.repository}@${digest}`;
  const source = await openRegistrySource(pinned, { ...(credentials ? { credentials } : {}), ...(entry !== undefined ? { entry } : {}) }, { insecure, logger }).catch((err: unknown) => {
    throw new ImageVolumePullError(err, found.skipped);
  });
  const partial = `${file}.${process.pid}.partial`;
  try {
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    if (source.input.kind !== 'stream') throw new Error('a registry source is a stream');
    await pipeline(source.input.stream, createWriteStream(partial, { mode: 0o644 }));
    await source.complete();
    await rename(partial, file);
  } catch (err) {
    await rm(partial, { force: true });
    throw new ImageVolumePullError(err, found.skipped);
  } finally {
    await source.close();
  }
  await mkdir(path.dirname(refFile), { recursive: true });
  await writeFile(refFile, record);
  await place(file, target);
  return { skipped: found.skipped, digest, pulled: true };
}

/** What a reference last resolved to, and whether that pull needed credentials. */
async function readRef(file: string): Promise<{ digest: string; authenticated: boolean } | undefined> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const r = JSON.parse(text) as { digest?: unknown; authenticated?: unknown };
    return typeof r.digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(r.digest) ? { digest: r.digest, authenticated: r.authenticated !== false } : undefined;
  } catch {
    return undefined;
  }
}

/** Hard-links the stored file into the pod's volume (a copy when the pod dir is on another file system). */
async function place(stored: string, target: string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
  await rm(target, { force: true });
  await link(stored, target).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EXDEV') throw err;
    await copyFile(stored, target);
  });
}
