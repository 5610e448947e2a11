import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DigestPollOptions } from '../../api/image-digest.ts';
import { HttpClient } from '../http/client.ts';
import { RegistryClient } from './client.ts';
import { machineCredentials } from './machine-auth.ts';
import { manifestRef, parseImageReference } from './reference.ts';

/**
 * The digest a registry serves for an image reference now: what CDI's source-update poller asks.
 * The manifest (an index for multi-arch images) is fetched with every Accept type the importer
 * takes and hashed, so the tag's current content decides, however the registry labels it.
 */
export async function pollImageDigest(url: string, options: DigestPollOptions = {}): Promise<string> {
  const ref = parseImageReference(url);
  const certDir = options.caFiles && Object.keys(options.caFiles).length > 0 ? await mkdtemp(path.join(tmpdir(), 'cdi-cron-ca-')) : undefined;
  try {
    if (certDir) for (const [name, pem] of Object.entries(options.caFiles ?? {})) await writeFile(path.join(certDir, path.basename(name)), pem);
    const http = await HttpClient.create({ insecure: options.insecure === true, ...(certDir ? { certDir } : {}), idleTimeoutMs: options.timeoutMs ?? 30_000, resumeAttempts: 0 });
    const signal = AbortSignal.timeout(options.timeoutMs ?? 30_000);
    try {
      const credentials = options.credentials ?? (options.machineCredentials ? (await machineCredentials(ref.registry, ref.repository)).credentials : undefined);
      const client = new RegistryClient(http, ref, credentials, options.insecure === true);
      await client.ping(signal);
      return (await client.manifest(manifestRef(ref), signal)).digest;
    } finally {
      await http.close();
    }
  } finally {
    if (certDir) await rm(certDir, { recursive: true, force: true });
  }
}
