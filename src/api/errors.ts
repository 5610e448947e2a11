/**
 * The one coded error table. Every failure the product reports to a user carries a stable
 * `CDI_ERR_*` code, a message (CDI's text where CDI has one), a process exit code and the HTTP
 * status an API or upload endpoint answers with. Add rows here; never throw bare strings.
 */
export const errorTable = {
  // input and format
  CDI_ERR_EMPTY_INPUT: { message: 'input is empty', exit: 2, http: 400 },
  CDI_ERR_TRUNCATED: { message: 'image is truncated: %s', exit: 2, http: 400 },
  CDI_ERR_INVALID_FORMAT: { message: 'Invalid format %s for image %s', exit: 2, http: 400 },
  CDI_ERR_QCOW2_INVALID: { message: 'invalid qcow2 image: %s', exit: 2, http: 400 },
  CDI_ERR_QCOW2_BACKING_FILE: { message: 'Image is invalid because it has invalid backing file %s', exit: 2, http: 400 },
  CDI_ERR_QCOW2_DATA_FILE: { message: 'qcow2 images with an external data file are not supported', exit: 2, http: 400 },
  CDI_ERR_QCOW2_ENCRYPTED: { message: 'encrypted qcow2 images are not supported (%s)', exit: 2, http: 400 },
  CDI_ERR_QCOW2_FEATURE: { message: 'qcow2 image uses unknown incompatible features 0x%s', exit: 2, http: 400 },
  CDI_ERR_QCOW2_L1_TOO_BIG: { message: 'L1 size too big: %s', exit: 2, http: 400 },
  CDI_ERR_QCOW2_OUT_OF_BOUNDS: { message: 'qcow2 %s offset %s is outside the image', exit: 2, http: 400 },
  CDI_ERR_VDI_INVALID: { message: 'invalid VDI image: %s', exit: 2, http: 400 },
  CDI_ERR_VDI_DIFFERENCING: { message: 'VDI differencing images are not supported (%s)', exit: 2, http: 400 },
  CDI_ERR_VDI_OUT_OF_BOUNDS: { message: 'VDI %s offset %s is outside the image', exit: 2, http: 400 },
  CDI_ERR_VMDK_INVALID: { message: 'invalid vmdk image: %s', exit: 2, http: 400 },
  CDI_ERR_VMDK_UNSUPPORTED: { message: 'vmdk image is not supported: %s', exit: 2, http: 400 },
  CDI_ERR_VMDK_EXTERNAL_FILE: { message: 'vmdk descriptor refers to the file %s outside the image; import a single-file VMDK (monolithicSparse or streamOptimized)', exit: 2, http: 400 },
  CDI_ERR_VMDK_OUT_OF_BOUNDS: { message: 'vmdk %s offset %s is outside the image', exit: 2, http: 400 },
  CDI_ERR_VMDK_BAD_GRAIN: { message: 'compressed grain at guest offset %s is corrupt: %s', exit: 2, http: 400 },
  CDI_ERR_VHD_INVALID: { message: 'invalid VHD image: %s', exit: 2, http: 400 },
  CDI_ERR_VHD_UNSUPPORTED: { message: 'VHD image is not supported: %s', exit: 2, http: 400 },
  CDI_ERR_VHDX_INVALID: { message: 'invalid VHDX image: %s', exit: 2, http: 400 },
  CDI_ERR_VHDX_UNSUPPORTED: { message: 'VHDX image is not supported: %s', exit: 2, http: 400 },
  CDI_ERR_VHDX_LOG: {
    message: 'VHDX image has a log that needs replay (log GUID %s): its tables may be stale; attach it once in Hyper-V or run `qemu-img check -r all` on it, then import it again',
    exit: 2,
    http: 400,
  },
  CDI_ERR_BAD_COMPRESSED_CLUSTER: { message: 'compressed cluster at guest offset %s is corrupt: %s', exit: 2, http: 400 },
  CDI_ERR_DECOMPRESS: { message: 'cannot decompress %s stream: %s', exit: 2, http: 400 },
  CDI_ERR_DECOMPRESS_MEMORY: { message: 'cannot decompress %s stream: it needs more memory than the limit of %s (a dictionary larger than any xz preset uses)', exit: 2, http: 400 },
  CDI_ERR_CHECKSUM_FORMAT: { message: 'invalid checksum %s: want algo:hex with algo one of md5, sha1, sha256, sha512', exit: 2, http: 400 },
  CDI_ERR_CHECKSUM_MISMATCH: { message: 'checksum mismatch: expected %s, got %s', exit: 3, http: 400 },
  CDI_ERR_TOO_LARGE: {
    message: 'virtual image size %s is larger than the reported available storage %s. A larger PVC is required',
    exit: 4,
    http: 400,
  },
  CDI_ERR_SIZE_SHRINK: { message: 'target size %s is smaller than the image size %s; images are only grown', exit: 2, http: 400 },
  // archives
  CDI_ERR_ARCHIVE_TRAVERSAL: { message: 'archive entry %s would be written outside the target directory', exit: 2, http: 400 },
  CDI_ERR_ARCHIVE_INVALID: { message: 'invalid tar archive: %s', exit: 2, http: 400 },
  CDI_ERR_OVA_INVALID: { message: 'invalid OVA: %s', exit: 2, http: 400 },
  CDI_ERR_OVA_UNSUPPORTED: { message: 'OVA %s is not supported', exit: 2, http: 400 },
  CDI_ERR_BLANK_ARCHIVE: { message: 'Cannot create empty disk with content type archive', exit: 1, http: 400 },
  // upload tokens and the upload proxy (CDI's texts where CDI has them)
  CDI_ERR_TOKEN_MISSING: { message: 'missing or malformed Authorization header, want "Bearer <token>"', exit: 3, http: 400 },
  CDI_ERR_TOKEN_INVALID: { message: 'upload token is not valid: %s', exit: 3, http: 401 },
  CDI_ERR_TOKEN_SCOPE: { message: 'upload token is for operation %s on %s, not Upload on persistentvolumeclaims', exit: 3, http: 400 },
  CDI_ERR_UPLOAD_PVC_MISSING: { message: "rejecting Upload Request for PVC %s that doesn't exist", exit: 1, http: 503 },
  CDI_ERR_UPLOAD_NOT_TARGET: { message: 'PVC %s is not an upload target', exit: 1, http: 503 },
  CDI_ERR_UPLOAD_FINISHED: { message: 'rejecting Upload Request for PVC %s that already finished uploading', exit: 1, http: 503 },
  CDI_ERR_UPLOAD_NOT_READY: { message: 'timed out waiting for the condition', exit: 1, http: 503 },
  CDI_ERR_UPLOAD_CONTENT_TYPE: { message: 'rejecting upload request for PVC %s - upload content-type %s is invalid', exit: 1, http: 503 },
  CDI_ERR_UPLOAD_FORWARD: { message: 'error in upload-proxy: %s', exit: 1, http: 502 },
  // upload server
  CDI_ERR_UPLOAD_BUSY: { message: 'an upload is already in progress', exit: 1, http: 503 },
  CDI_ERR_UPLOAD_DONE: { message: 'the upload already completed', exit: 1, http: 409 },
  CDI_ERR_UPLOAD_CLIENT: { message: 'client certificate not accepted: %s', exit: 1, http: 401 },
  CDI_ERR_UPLOAD_FORM: { message: 'invalid multipart upload: %s', exit: 2, http: 400 },
  CDI_ERR_UPLOAD_TOO_LARGE: {
    message: 'Saving stream failed: effective image size is larger than the reported available storage: %s',
    exit: 4,
    http: 400,
  },
  CDI_ERR_UPLOAD_SAVE: { message: 'Saving stream failed: %s', exit: 1, http: 500 },
  CDI_ERR_UPLOAD_RESUME: { message: 'cannot resume upload: %s', exit: 1, http: 416 },
  CDI_ERR_UPLOAD_IDLE: { message: 'no upload data received for %s seconds; the request was cut off', exit: 1, http: 408 },
  // image-upload client (virtctl's texts)
  CDI_ERR_UPLOAD_HTTP: { message: 'unexpected return value %s, %s', exit: 1, http: 502 },
  CDI_ERR_UPLOAD_AUTH: { message: 'authentication failed: %s', exit: 3, http: 401 },
  CDI_ERR_UPLOAD_TOKEN_REQUEST: { message: 'failed to get upload token: %s', exit: 1, http: 500 },
  CDI_ERR_UPLOAD_RETRIES: { message: 'error uploading image after %s retries: %s', exit: 1, http: 502 },
  CDI_ERR_UPLOAD_PROXY_URL: { message: 'uploadproxy URL not found', exit: 1, http: 500 },
  CDI_ERR_UPLOAD_API: { message: 'API request failed: %s', exit: 1, http: 502 },
  CDI_ERR_UPLOAD_SIZE_MISSING: { message: 'when creating a resource, the size must be specified', exit: 64, http: 400 },
  CDI_ERR_UPLOAD_NO_DATAVOLUME: { message: 'No DataVolume is associated with the existing PVC %s', exit: 1, http: 409 },
  CDI_ERR_UPLOAD_PVC_DONE: { message: 'PVC %s already successfully imported/cloned/updated', exit: 1, http: 409 },
  CDI_ERR_UPLOAD_PVC_UNAVAILABLE: { message: 'PVC %s not available for upload', exit: 1, http: 409 },
  CDI_ERR_UPLOAD_PVC_NOT_ARCHIVE: { message: "PVC %s doesn't have archive contentType annotation", exit: 1, http: 409 },
  CDI_ERR_UPLOAD_PVC_NOT_FOUND: { message: 'persistentvolumeclaims "%s" not found', exit: 1, http: 404 },
  CDI_ERR_UPLOAD_DV_PHASE: { message: 'cannot upload to DataVolume in %s phase, make sure the PVC is Bound, or use force-bind flag', exit: 1, http: 409 },
  CDI_ERR_UPLOAD_PROVISIONING: { message: 'Provisioning failed: %s', exit: 1, http: 409 },
  CDI_ERR_UPLOAD_CLAIM_INVALID: { message: 'Claim not valid: %s', exit: 1, http: 409 },
  CDI_ERR_UPLOAD_TIMEOUT: { message: 'timed out waiting for the condition', exit: 1, http: 504 },
  CDI_ERR_UPLOAD_PROCESSING_TIMEOUT: {
    message: 'Timed out waiting for post upload processing to complete, please check upload pod status for progress',
    exit: 1,
    http: 504,
  },
  // import sources (CDI's texts where CDI has them)
  CDI_ERR_UNKNOWN_SOURCE: { message: 'Unknown data source: %s', exit: 1, http: 400 },
  CDI_ERR_HTTP_STATUS: { message: 'expected status code 200, got %s. Status: %s', exit: 1, http: 502 },
  CDI_ERR_HTTP_REQUEST: { message: 'HTTP request errored: %s', exit: 1, http: 502 },
  CDI_ERR_HTTP_REDIRECTS: { message: 'stopped after %s redirects', exit: 1, http: 502 },
  CDI_ERR_HTTP_IDLE: { message: 'no data received from %s for %s seconds', exit: 1, http: 504 },
  CDI_ERR_HTTP_CHANGED: { message: 'source changed or range refused while resuming at byte %s: %s', exit: 1, http: 502 },
  CDI_ERR_HTTP_LENGTH: { message: 'source %s sent %s bytes, expected %s', exit: 1, http: 502 },
  CDI_ERR_REGISTRY_URL: { message: 'invalid registry url %s: %s', exit: 1, http: 400 },
  CDI_ERR_REGISTRY: { message: 'registry %s: %s', exit: 1, http: 502 },
  CDI_ERR_REGISTRY_AUTH: { message: 'registry %s denied access: %s', exit: 3, http: 401 },
  CDI_ERR_REGISTRY_MANIFEST: { message: 'unsupported manifest %s: %s', exit: 1, http: 400 },
  CDI_ERR_REGISTRY_PLATFORM: { message: 'no image for architecture %s in manifest list %s', exit: 1, http: 400 },
  CDI_ERR_REGISTRY_ARCH: { message: 'manifest image architecture: "%s" doesn\'t match requested architecture: "%s"', exit: 1, http: 400 },
  CDI_ERR_REGISTRY_DIGEST: { message: 'digest mismatch for %s: got %s (%s bytes)', exit: 1, http: 502 },
  CDI_ERR_REGISTRY_NO_DISK: { message: 'Failed to find VM disk image file in the container image', exit: 1, http: 400 },
  CDI_ERR_REGISTRY_NO_FILE: { message: 'the container image has no regular file %s', exit: 1, http: 400 },
  CDI_ERR_REGISTRY_DISKS: { message: 'image directory contains more than one file: %s', exit: 1, http: 400 },
  CDI_ERR_S3: { message: 's3 %s: %s', exit: 1, http: 502 },
  // targets and I/O
  CDI_ERR_TARGET: { message: 'cannot write target %s: %s', exit: 1, http: 500 },
  CDI_ERR_NO_SPACE: { message: 'no space left on target %s: %s', exit: 4, http: 400 },
  CDI_ERR_NODE_DISK_FULL: { message: "no space left on device: the node's disk holding the volumes is full, not the DataVolume", exit: 4, http: 507 },
  CDI_ERR_SCRATCH_LIMIT: { message: 'scratch space limit of %s bytes exceeded', exit: 1, http: 500 },
  CDI_ERR_ABORTED: { message: 'aborted: %s', exit: 130, http: 500 },
  // the command line parser's own text (virtctl's where it has one), so no template around it
  CDI_ERR_USAGE: { message: '%s', exit: 64, http: 400 },
  CDI_ERR_INPUT_OPEN: { message: 'open %s: %s', exit: 66, http: 400 },
  CDI_ERR_TARGET_KIND: { message: '%s content needs a %s target', exit: 64, http: 400 },
  CDI_ERR_WORKER_CONFIG: { message: 'invalid %s configuration: %s', exit: 64, http: 500 },
  // the workers' shared contract (src/worker) and the clone source (CDI's texts where CDI has them)
  CDI_ERR_WORKER_ENV_BOOL: { message: 'the %s environment variable is with a wrong value "%s"; should be "true" or "false"', exit: 1, http: 400 },
  CDI_ERR_WORKER_ENV_MISSING: { message: 'Error getting env var %s', exit: 1, http: 400 },
  CDI_ERR_WORKER_LISTEN_PORT: { message: '%s "%s" is not a TCP port', exit: 1, http: 400 },
  CDI_ERR_CLONE_SOURCE: { message: 'Error opening clone source %s: %s', exit: 1, http: 500 },
  CDI_ERR_CLONE_POST: { message: 'Error %s POSTing to %s', exit: 1, http: 502 },
  CDI_ERR_CLONE_STATUS: { message: 'Unexpected status code %s%s', exit: 1, http: 502 },
  CDI_ERR_INTERNAL: { message: 'internal error: %s', exit: 1, http: 500 },
  // local node agent and `cdi serve`
  CDI_ERR_UNSAFE_NAME: { message: 'name %s cannot be used as a path under the data dir', exit: 2, http: 422 },
  CDI_ERR_DATA_DIR_IN_USE: { message: 'data dir %s is in use by another API server (its database is locked)', exit: 1, http: 500 },
  CDI_ERR_SERVE: { message: 'cdi serve: %s', exit: 1, http: 500 },
  CDI_ERR_STORED_OBJECT: { message: 'stored object %s cannot be read and was set aside: %s', exit: 1, http: 500 },
  CDI_ERR_EVENT_HANDLER: { message: 'a %s event handler failed on %s', exit: 1, http: 500 },
  // logged by the controller and node agent for failures they survive (they retry or go on)
  CDI_ERR_KUBE_REQUEST: { message: 'Kubernetes API request failed: %s', exit: 1, http: 502 },
  CDI_ERR_RECONCILE: { message: 'reconciling %s failed: %s', exit: 1, http: 500 },
  CDI_ERR_NODE_SYNC: { message: 'node agent sync of %s failed: %s', exit: 1, http: 500 },
  // cluster mode: token API (aggregated upload.cdi.kubevirt.io), client configuration
  CDI_ERR_TOKEN_API_UNAUTHENTICATED: { message: 'request is not from a trusted front proxy: %s', exit: 3, http: 401 },
  CDI_ERR_TOKEN_API_DENIED: { message: 'upload token request denied: %s', exit: 3, http: 401 },
  CDI_ERR_TOKEN_API_REQUEST: { message: 'invalid UploadTokenRequest: %s', exit: 2, http: 400 },
  // golden images: DataImportCron and DataSource
  CDI_ERR_CRON_SCHEDULE: { message: 'invalid schedule %s: %s', exit: 2, http: 422 },
  CDI_ERR_KUBECONFIG: { message: 'cannot load Kubernetes client configuration: %s', exit: 1, http: 500 },
} as const satisfies Record<string, { message: string; exit: number; http: number }>;

export type ErrorCode = keyof typeof errorTable;

function render(template: string, args: ReadonlyArray<string | number | bigint>): string {
  let i = 0;
  return template.replace(/%s/g, () => String(args[i++] ?? ''));
}

export class CdiError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  readonly httpStatus: number;

  constructor(code: ErrorCode, args: ReadonlyArray<string | number | bigint> = [], options?: { cause?: unknown }) {
    const row = errorTable[code];
    super(render(row.message, args), options);
    this.name = 'CdiError';
    this.code = code;
    this.exitCode = row.exit;
    this.httpStatus = row.http;
  }
}

export function isCdiError(err: unknown, code?: ErrorCode): err is CdiError {
  return err instanceof CdiError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a CdiError so callers always have a code to report. */
export function asCdiError(err: unknown): CdiError {
  if (err instanceof CdiError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CdiError('CDI_ERR_INTERNAL', [message], { cause: err });
}
