/**
 * The upload proxy's port for finding a volume's upload server: the control plane implements it
 * against the Kubernetes API (PVC annotations, upload pod or Service), tests plug in a fixed
 * table. The kinds follow CDI's checks in CDI's order (pkg/uploadproxy). `url` is the upload
 * server's base URL (`https://cdi-upload-<pvc>.<ns>.svc:8443` in a cluster), or in embedded mode
 * `unix:` and the path of the owner-only socket the server also listens on (see `localSocketUrl`).
 */
export type UploadTarget =
  | { kind: 'ready'; url: string; contentType: 'kubevirt' | 'archive' }
  | { kind: 'missing' }
  | { kind: 'not-upload-target' }
  | { kind: 'finished' }
  | { kind: 'not-ready' }
  | { kind: 'bad-content-type'; value: string };

export interface UploadTargetResolver {
  resolve(namespace: string, name: string): Promise<UploadTarget>;
}

/** Event reason for an upload the upload server refused or failed to save (CDI's UploadFailed). */
export const UploadFailedReason = 'UploadFailed';

/**
 * Where the proxy reports an upload the upload server answered with a failure: a Warning
 * `UploadFailed` event on the claim and its DataVolume, which the controller shows as the Running
 * condition's message while the volume waits for a new upload.
 */
export interface UploadFailureRecorder {
  uploadFailed(namespace: string, name: string, message: string): Promise<void>;
}

/** Embedded mode: the proxy reaches an upload server through its unix socket, not TLS on loopback. */
export const LocalSocketScheme = 'unix:';

export function localSocketUrl(socketPath: string): string {
  return `${LocalSocketScheme}${socketPath}`;
}

/** The socket path of a `unix:` target URL, or undefined for an https one. */
export function localSocketPath(url: string): string | undefined {
  return url.startsWith(LocalSocketScheme) ? url.slice(LocalSocketScheme.length) : undefined;
}
