import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../api/logger.ts';
import { openRegistrySource } from '../sources/registry/registry-source.ts';
import { parseImageReference } from '../sources/registry/reference.ts';
import { machineCredentials, type MachineCredentials } from '../sources/registry/machine-auth.ts';

/**
 * A Kubernetes image volume (`volumes[].image`) as the local node provides it: the image pulled
 * with the machine's credentials (machine-auth.ts), of which only the containerDisk's disk file
 * is materialised, at `<dir>/disk/disk.img` — the one thing the importer reads from it.
 */
export interface ImageVolumePull {
  /** What the credentials lookup skipped (credential helpers), for a pod event. */
  skipped: string[];
}

/** Loopback registries speak plain HTTP without being listed, as dockerd's default insecure 127.0.0.0/8. */
function isLoopback(registry: string): boolean {
  const host = registry.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** A failed pull, with what the credentials lookup skipped (the likely reason it was denied). */
export class ImageVolumePullError extends Error {
  readonly skipped: string[];
  constructor(cause: unknown, skipped: string[]) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.skipped = skipped;
  }
}

export async function pullImageVolume(reference: string, dir: string, logger: Logger, lookup: (host: string, repository: string) => Promise<MachineCredentials> = machineCredentials): Promise<ImageVolumePull> {
  const disk = path.join(dir, 'disk', 'disk.img');
  const done = await stat(disk).then(() => true, () => false);
  const url = `docker://${reference}`;
  const ref = parseImageReference(url);
  const found = await lookup(ref.registry, ref.repository);
  if (done) return { skipped: found.skipped };
  logger.info({ image: reference, credentials: found.file ?? 'none' }, 'pulling image volume with the machine credentials');
  const source = await openRegistrySource(url, found.credentials ? { credentials: found.credentials } : {}, { insecure: isLoopback(ref.registry), logger }).catch((err: unknown) => {
    throw new ImageVolumePullError(err, found.skipped);
  });
  const partial = `${disk}.partial`;
  try {
    await mkdir(path.dirname(disk), { recursive: true, mode: 0o755 });
    if (source.input.kind !== 'stream') throw new Error('a registry source is a stream');
    await pipeline(source.input.stream, createWriteStream(partial, { mode: 0o644 }));
    await source.complete();
    await rename(partial, disk);
  } catch (err) {
    await rm(partial, { force: true });
    throw new ImageVolumePullError(err, found.skipped);
  } finally {
    await source.close();
  }
  return { skipped: found.skipped };
}
