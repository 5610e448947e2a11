/**
 * The product's worker images. In cluster mode they are container images; the embedded node
 * agent recognises a pod by the repository part of its image and runs the entry script as a
 * child process instead.
 */
export const WorkerImages = {
  importer: { repository: 'cdi-ts/importer', entry: 'importer/main.ts' },
  uploadServer: { repository: 'cdi-ts/uploadserver', entry: 'uploadserver/main.ts' },
  cloner: { repository: 'cdi-ts/cloner', entry: 'importer/cloner.ts' },
} as const;

export type WorkerKind = keyof typeof WorkerImages;

/** `cdi-ts/importer:v1` or `registry.example/cdi-ts/importer@sha256:…` → 'importer'. */
export function workerKindOfImage(image: string): WorkerKind | undefined {
  const withoutDigest = image.split('@')[0] ?? '';
  const lastSlash = withoutDigest.lastIndexOf('/');
  const lastColon = withoutDigest.lastIndexOf(':');
  const repo = lastColon > lastSlash ? withoutDigest.slice(0, lastColon) : withoutDigest;
  for (const [kind, img] of Object.entries(WorkerImages)) {
    if (repo === img.repository || repo.endsWith(`/${img.repository}`)) return kind as WorkerKind;
  }
  return undefined;
}
