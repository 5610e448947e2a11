import { createHash } from 'node:crypto';
import { CdiError } from '../../api/errors.ts';
import { HttpClient } from '../http/client.ts';
import type { HttpOptions } from '../http/options.ts';
import { ByteMeter } from '../meter.ts';
import type { ImportSource } from '../source.ts';
import type { Credentials } from './auth.ts';
import { RegistryClient } from './client.ts';
import { resumingBlob } from './blob-body.ts';
import { LayerView } from './disk-finder.ts';
import { layerEntries } from './layers.ts';
import { choosePlatform, labelsFromEnv, manifestKind, parseImageManifest, type Descriptor, type ImageConfig } from './manifest.ts';
import { manifestRef, parseImageReference } from './reference.ts';

export interface RegistryOptions {
  credentials?: Credentials;
  /** Wanted platform.architecture; when given explicitly, a single-arch image must match it. */
  architecture?: string;
  /** True when the architecture came from IMPORTER_REGISTRY_IMAGE_ARCHITECTURE (CDI then checks the config). */
  architectureRequested?: boolean;
  /** Read this file of the image instead of the one file under /disk. */
  entry?: string;
}

/**
 * Walks the layers top down and yields the bytes of the one visible regular file under disk/,
 * straight from the layer blob, while every other entry is skipped. After the disk it keeps
 * reading every remaining layer to the end, so the stream ends only once each blob's sha256
 * matched and no second disk appeared: a failure reaches the engine before it finishes the target.
 */
async function* diskBytes(client: RegistryClient, http: HttpClient, layers: Descriptor[], meter: ByteMeter, entry: string | undefined, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const view = new LayerView(entry);
  for (const layer of [...layers].reverse()) {
    view.startLayer();
    const body = resumingBlob(http, layer.size, (from) => client.blob(layer.digest, signal, from), signal);
    for await (const entry of layerEntries(body, layer, meter, signal)) {
      if (view.entry(entry.name, entry.type)) {
        yield* entry.body;
      } else {
        for await (const _ of entry.body) { /* skip */ }
      }
    }
  }
  view.found();
}

/** Keeps scanning after an early stop of the consumer, so complete() can still verify what is left. */
function resumable(source: AsyncGenerator<Uint8Array>): { stream: AsyncIterable<Uint8Array>; finish(): Promise<void>; stop(): void } {
  let finished = false;
  const stream = {
    [Symbol.asyncIterator]: () => ({
      next: async () => {
        const n = await source.next();
        if (n.done) finished = true;
        return n;
      },
      return: async () => ({ done: true as const, value: undefined }),
    }),
  };
  return {
    stream,
    async finish() {
      while (!finished) if ((await source.next()).done) finished = true;
    },
    /** Tears the layer pipeline down when the import ends early. */
    stop() {
      if (!finished) source.return(undefined).catch(() => {});
      finished = true;
    },
  };
}

/** A small blob (the image config) in memory; reading stops one byte past its declared size. */
async function smallBlob(bytes: AsyncIterable<Buffer>, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of bytes) {
    parts.push(chunk);
    total += chunk.byteLength;
    if (total > size) break;
  }
  return Buffer.concat(parts, total).subarray(0, size + 1);
}

/** Opens `docker://host[:port]/repo[:tag|@digest]`: ping, auth, manifest (index → platform), config. */
export async function openRegistrySource(url: string, options: RegistryOptions, httpOptions: HttpOptions, signal?: AbortSignal): Promise<ImportSource> {
  const ref = parseImageReference(url);
  const http = await HttpClient.create(httpOptions);
  try {
    const client = new RegistryClient(http, ref, options.credentials, httpOptions.insecure === true);
    await client.ping(signal);
    const architecture = options.architecture ?? 'amd64';
    let manifest = await client.manifest(manifestRef(ref), signal);
    const wasIndex = manifestKind(manifest) === 'index';
    if (wasIndex) manifest = await client.manifest(choosePlatform(manifest, architecture).digest, signal);
    if (manifestKind(manifest) !== 'image') throw new CdiError('CDI_ERR_REGISTRY_MANIFEST', [manifest.digest, 'an index inside an index']);
    const image = parseImageManifest(manifest);
    const configBytes = await smallBlob(resumingBlob(http, image.config.size, (from) => client.blob(image.config.digest, signal, from), signal), image.config.size);
    const configDigest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
    if (configDigest !== image.config.digest) throw new CdiError('CDI_ERR_REGISTRY_DIGEST', [image.config.digest, configDigest, configBytes.byteLength]);
    const config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    if (!wasIndex && options.architectureRequested && config.architecture && config.architecture !== architecture) {
      throw new CdiError('CDI_ERR_REGISTRY_ARCH', [config.architecture, architecture]);
    }
    const labels = config.config?.Labels ?? {};
    if (labels['containers.bootc'] === '1' || labels['ostree.bootable'] === '1') {
      throw new CdiError('CDI_ERR_REGISTRY_MANIFEST', [manifest.digest, 'bootc/ostree bootable images are not supported']);
    }
    const meter = new ByteMeter(image.layers.reduce((sum, l) => sum + l.size, 0));
    const disk = resumable(diskBytes(client, http, image.layers, meter, options.entry, signal));
    httpOptions.logger?.info({ image: url, manifest: manifest.digest, layers: image.layers.length }, 'registry image resolved');
    return {
      input: { kind: 'stream', stream: disk.stream },
      meter,
      description: url,
      labels: labelsFromEnv(config.config?.Env),
      complete: () => disk.finish(),
      close: async () => {
        await http.close();
        disk.stop();
      },
    };
  } catch (err) {
    await http.close();
    throw err;
  }
}
