/** Environment variable names of CDI's worker contracts, spelled as upstream CDI spells them. */
export const ImporterEnv = {
  source: 'IMPORTER_SOURCE',
  endpoint: 'IMPORTER_ENDPOINT',
  contentType: 'IMPORTER_CONTENTTYPE',
  imageSize: 'IMPORTER_IMAGE_SIZE',
  accessKeyId: 'IMPORTER_ACCESS_KEY_ID',
  secretKey: 'IMPORTER_SECRET_KEY',
  certDir: 'IMPORTER_CERT_DIR',
  proxyCertDir: 'IMPORTER_PROXY_CERT_DIR',
  insecureTls: 'INSECURE_TLS',
  extraHeaderPrefix: 'IMPORTER_EXTRA_HEADER_',
  checksum: 'IMPORTER_CHECKSUM',
  registryArchitecture: 'IMPORTER_REGISTRY_IMAGE_ARCHITECTURE',
  preallocation: 'PREALLOCATION',
  filesystemOverhead: 'FILESYSTEM_OVERHEAD',
  ownerUid: 'OWNER_UID',
  /** `node`: the disk is read from the image volume the kubelet pulled (PodPaths.imageVolume), not pulled by the importer. */
  pullMethod: 'IMPORTER_PULL_METHOD',
} as const;

export const UploadServerEnv = {
  tlsKey: 'TLS_KEY',
  tlsCert: 'TLS_CERT',
  clientCert: 'CLIENT_CERT',
  clientName: 'CLIENT_NAME',
  imageSize: 'UPLOAD_IMAGE_SIZE',
  filesystemOverhead: 'FILESYSTEM_OVERHEAD',
  preallocation: 'PREALLOCATION',
  destination: 'DESTINATION',
  contentType: 'CONTENT_TYPE',
  deadline: 'DEADLINE',
} as const;

/**
 * Local-run overrides (not in CDI): where a worker writes and listens when it does not run in a
 * pod with CDI's fixed paths and ports. The embedded node agent sets them.
 */
export const LocalEnv = {
  target: 'CDI_TARGET_PATH',
  terminationLog: 'CDI_TERMINATION_LOG',
  listenPort: 'CDI_LISTEN_PORT',
  /** The secretExtraHeaders directories (a JSON array, in index order) instead of /extraheaders/<i>. */
  secretExtraHeaderDirs: 'CDI_SECRET_EXTRA_HEADER_DIRS',
  /** The upload server's owner-only unix socket, beside its TLS port. */
  listenSocket: 'CDI_LISTEN_SOCKET',
  scratchDir: 'CDI_SCRATCH_DIR',
  /** Where the node agent put the pulled image volume, instead of PodPaths.imageVolume. */
  imageVolumeDir: 'CDI_IMAGE_VOLUME_DIR',
  /** A launcher container's mounts: a JSON array of { podPath, hostPath }, longest pod path first. */
  mounts: 'CDI_MOUNTS',
  /** A launcher container's host ports: a JSON object of container port → host port. */
  portMap: 'CDI_PORT_MAP',
} as const;

/** The virt-launcher pod's contract: the domain the compute container runs and the console file both share. */
export const LauncherEnv = {
  /** The checked domain (src/vm/domain.ts) as JSON: devices name in-pod paths only. */
  domain: 'VIRT_LAUNCHER_DOMAIN',
  /** The guest's serial console file, in the pod's private emptyDir. */
  consoleLog: 'VIRT_LAUNCHER_CONSOLE_LOG',
} as const;

/** CDI's fixed in-pod paths. */
export const PodPaths = {
  filesystemTarget: '/data/disk.img',
  blockTarget: '/dev/cdi-block-volume',
  dataDir: '/data',
  scratchDir: '/scratch',
  terminationLog: '/dev/termination-log',
  /** secretExtraHeaders: Secret <i> is mounted at /extraheaders/<i>; each value is one header line. */
  secretExtraHeadersDir: '/extraheaders',
  /** pullMethod node: the registry image, mounted as a Kubernetes image volume; its disk is under disk/. */
  imageVolume: '/cdi-image',
} as const;

/** The clone source's contract (CDI's cdi-cloner names, plus SOURCE_PATH and UPLOAD_SERVER_NAME of ours). */
export const ClonerEnv = {
  sourcePath: 'SOURCE_PATH',
  uploadUrl: 'UPLOAD_URL',
  serverName: 'UPLOAD_SERVER_NAME',
  clientKey: 'CLIENT_KEY',
  clientCert: 'CLIENT_CERT',
  serverCaCert: 'SERVER_CA_CERT',
  ownerUid: 'OWNER_UID',
} as const;

/** Tunables of ours that the workers read (not in CDI). */
export const WorkerTuningEnv = {
  importerIdleTimeout: 'CDI_IMPORTER_IDLE_TIMEOUT_SECONDS',
  uploadResumeWindow: 'UPLOAD_RESUME_WINDOW_SECONDS',
} as const;
