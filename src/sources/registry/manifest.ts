import { CdiError } from '../../api/errors.ts';
import { manifestTypes, type FetchedManifest } from './client.ts';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture?: string; os?: string; variant?: string };
}

export interface ImageManifest {
  config: Descriptor;
  layers: Descriptor[];
}

const digestPattern = /^sha256:[a-f0-9]{64}$/;

function descriptor(value: unknown, where: string): Descriptor {
  const d = value as Partial<Descriptor> | null;
  if (!d || typeof d.digest !== 'string' || !digestPattern.test(d.digest) || typeof d.size !== 'number' || d.size < 0) {
    throw new CdiError('CDI_ERR_REGISTRY_MANIFEST', [where, 'descriptor without a sha256 digest and size']);
  }
  return d as Descriptor;
}

/** The kind of a fetched manifest: Content-Type first, then the body's mediaType (which must agree). */
export function manifestKind(m: FetchedManifest): 'index' | 'image' {
  let body: { mediaType?: string; schemaVersion?: number; manifests?: unknown };
  try {
    body = JSON.parse(m.bytes.toString('utf8')) as typeof body;
  } catch {
    throw new CdiError('CDI_ERR_REGISTRY_MANIFEST', [m.digest, 'not JSON']);
  }
  const type = m.mediaType && m.mediaType !== 'application/json' ? m.mediaType : body.mediaType ?? (body.manifests ? manifestTypes.ociIndex : manifestTypes.ociManifest);
  if (body.mediaType && body.mediaType !== type) throw new CdiError('CDI_ERR_REGISTRY_MANIFEST', [m.digest, `body says ${body.mediaType}, served as ${type}`]);
  if (type === manifestTypes.ociIndex || type === manifestTypes.dockerList) return 'index';
  if (type === manifestTypes.ociManifest || type === manifestTypes.dockerManifest) return 'image';
  throw new CdiError('CDI_ERR_REGISTRY_MANIFEST', [m.digest, `media type ${type || '(none)'} (schema 1 is not supported)`]);
}

/** Picks linux/<architecture> from an index, preferring an exact arm64 variant v8 or none; attestations are skipped. */
export function choosePlatform(m: FetchedManifest, architecture: string): Descriptor {
  const body = JSON.parse(m.bytes.toString('utf8')) as { manifests?: unknown[] };
  const candidates = (body.manifests ?? []).map((d, i) => descriptor(d, `${m.digest} manifests[${i}]`))
    .filter((d) => d.platform?.architecture === architecture && (d.platform.os ?? 'linux') === 'linux');
  const preferred = candidates.find((d) => architecture !== 'arm64' || !d.platform?.variant || d.platform.variant === 'v8') ?? candidates[0];
  if (!preferred) throw new CdiError('CDI_ERR_REGISTRY_PLATFORM', [architecture, m.digest]);
  return preferred;
}

export function parseImageManifest(m: FetchedManifest): ImageManifest {
  const body = JSON.parse(m.bytes.toString('utf8')) as { schemaVersion?: number; config?: unknown; layers?: unknown[] };
  if (body.schemaVersion !== 2) throw new CdiError('CDI_ERR_REGISTRY_MANIFEST', [m.digest, `schemaVersion ${body.schemaVersion}`]);
  return {
    config: descriptor(body.config, `${m.digest} config`),
    layers: (body.layers ?? []).map((l, i) => descriptor(l, `${m.digest} layers[${i}]`)),
  };
}

export interface ImageConfig {
  architecture?: string;
  config?: { Env?: string[]; Labels?: Record<string, string> };
}

/** CDI's labels from image env: INSTANCETYPE_KUBEVIRT_IO_DEFAULT_PREFERENCE=x → instancetype.kubevirt.io/default-preference: x. */
export function labelsFromEnv(env: readonly string[] = []): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of env) {
    const eq = entry.indexOf('=');
    const name = eq >= 0 ? entry.slice(0, eq) : entry;
    const marker = name.indexOf('KUBEVIRT_IO_');
    if (marker < 0) continue;
    const prefix = name.slice(0, marker).replace(/_$/, '').toLowerCase();
    const key = name.slice(marker + 'KUBEVIRT_IO_'.length).toLowerCase().replace(/_/g, '-');
    labels[`${prefix ? `${prefix}.` : ''}kubevirt.io/${key}`] = eq >= 0 ? entry.slice(eq + 1) : '';
  }
  return labels;
}
