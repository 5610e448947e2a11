/** CDI's upload endpoints (pkg/common/common.go), shared by the upload proxy and the upload server. */
export const UploadVersions = ['v1beta1', 'v1alpha1'] as const;
export type UploadVersion = (typeof UploadVersions)[number];

export type UploadPathKind = 'sync' | 'async' | 'form' | 'form-async' | 'archive';

const suffixes: Record<UploadPathKind, string> = {
  sync: 'upload',
  async: 'upload-async',
  form: 'upload-form',
  'form-async': 'upload-form-async',
  archive: 'upload-archive',
};

export function uploadPath(version: UploadVersion, kind: UploadPathKind): string {
  return `/${version}/${suffixes[kind]}`;
}

/** Every upload path a server answers, with its version and kind. */
export const uploadRoutes: ReadonlyArray<{ path: string; version: UploadVersion; kind: UploadPathKind }> = UploadVersions.flatMap(
  (version) => (Object.keys(suffixes) as UploadPathKind[]).map((kind) => ({ path: uploadPath(version, kind), version, kind })),
);

/** The proxy serves every kind but archive, which only exists as a rewrite target. */
export const proxyRoutes = uploadRoutes.filter((r) => r.kind !== 'archive');

export const HealthzPath = '/healthz';

/** Headers of the resumable-upload and checksum extensions (docs/upload-resume.md). */
export const UploadHeaders = {
  offset: 'upload-offset',
  length: 'upload-length',
  state: 'upload-state',
  checksum: 'x-cdi-checksum',
} as const;

export function isAsyncKind(kind: UploadPathKind): boolean {
  return kind === 'async' || kind === 'form-async';
}
