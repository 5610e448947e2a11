/**
 * `virtctl image-upload` argument handling, with virtctl's checks in virtctl's order and its
 * error texts (kubevirt pkg/virtctl/imageupload), so scripts written for virtctl behave the same.
 */
import { CdiError } from '../../api/errors.ts';

export interface ImageUploadFlags {
  pvcName?: string;
  pvcSize?: string;
  size?: string;
  storageClass?: string;
  accessMode?: string;
  volumeMode?: string;
  blockVolume?: boolean;
  imagePath?: string;
  archivePath?: string;
  /** commander's `--no-create`: false when given. */
  create?: boolean;
  waitSecs?: string;
  retry?: string;
  forceBind?: boolean;
  insecure?: boolean;
  uploadproxyUrl?: string;
  datasource?: boolean;
  defaultInstancetype?: string;
  defaultInstancetypeKind?: string;
  defaultPreference?: string;
  defaultPreferenceKind?: string;
  namespace?: string;
  kubeconfig?: string;
  resume?: boolean;
  checksum?: string;
}

export interface UploadPlan {
  kind: 'dv' | 'pvc';
  name: string;
  /** The local file and what it holds. */
  path: string;
  contentType: 'kubevirt' | 'archive';
  size: string | undefined;
  storageClass: string | undefined;
  accessMode: string | undefined;
  volumeMode: 'block' | 'filesystem' | undefined;
  noCreate: boolean;
  waitSecs: number;
  retries: number;
  forceBind: boolean;
  insecure: boolean;
  uploadProxyUrl: string | undefined;
  datasource: boolean;
  labels: Record<string, string>;
  resume: boolean;
  /** `algo:hex` to send, or just `algo` to compute from the file first. */
  checksum: string | undefined;
}

const usage = (text: string): CdiError => new CdiError('CDI_ERR_USAGE', [text]);

// apimachinery's resource.ParseQuantity grammar and error text.
const quantityPattern = /^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const quantitySuffixes = new Set(['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'n', 'u', 'm', 'k', 'M', 'G', 'T', 'P', 'E']);

export function validateQuantity(text: string): void {
  const match = quantityPattern.exec(text);
  const suffix = match?.[2] ?? '';
  const ok = match && !Number.isNaN(Number(match[1])) && (quantitySuffixes.has(suffix) || /^[eE][-+]?[0-9]+$/.test(suffix));
  if (!ok) throw usage(`validation failed for size=${text}: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`);
}

function count(text: string | undefined, fallback: number, flag: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw usage(`invalid argument "${text}" for "--${flag}" flag: strconv.ParseUint: parsing "${text}": invalid syntax`);
  return n;
}

export function parseImageUploadArgs(args: string[], flags: ImageUploadFlags): UploadPlan {
  let size = flags.size;
  if (flags.pvcSize && flags.size) throw usage('--pvc-size and --size can not be specified at the same time');
  if (flags.pvcSize) size = flags.pvcSize;
  let kind: 'dv' | 'pvc';
  let name = flags.pvcName ?? '';
  if (flags.pvcName && args.length > 0) throw usage('cannot use --pvc-name and args');
  if (flags.pvcName) {
    kind = 'pvc';
  } else {
    if (args.length !== 2) throw usage('expecting two args');
    const resource = args[0]!.toLowerCase();
    if (resource === 'dv') kind = 'dv';
    else if (resource === 'pvc') kind = 'pvc';
    else throw usage(`invalid resource type ${args[0]}`);
    name = args[1]!;
  }

  let volumeMode = flags.volumeMode;
  if (flags.blockVolume) {
    if (volumeMode && volumeMode !== 'block') throw usage(`incompatible --volume-mode '${volumeMode}' and --block-volume`);
    volumeMode = 'block';
  }
  if (volumeMode !== undefined && volumeMode !== '' && volumeMode !== 'block' && volumeMode !== 'filesystem') {
    throw usage(`Invalid volume mode '${volumeMode}'. Valid values are 'block' and 'filesystem'.`);
  }
  if (!flags.imagePath && !flags.archivePath) throw usage('either image-path or archive-path must be provided');
  if (flags.imagePath && flags.archivePath) throw usage('cannot handle both image-path and archive-path, provide only one');
  if (flags.archivePath && volumeMode === 'block') throw usage('In archive upload the volume mode should always be filesystem');

  if (flags.defaultInstancetypeKind && !flags.defaultInstancetype) {
    throw usage('--default-instancetype must be provided with --default-instancetype-kind');
  }
  if (flags.defaultPreferenceKind && !flags.defaultPreference) {
    throw usage('--default-preference must be provided with --default-preference-kind');
  }
  const noCreate = flags.create === false;
  if (noCreate && (flags.defaultInstancetype || flags.defaultPreference)) {
    throw usage('--default-instancetype and --default-preference cannot be used with --no-create');
  }
  if (flags.accessMode === 'ReadOnlyMany') {
    throw usage('cannot upload to a readonly volume, use either ReadWriteOnce or ReadWriteMany if supported');
  }
  if (size) validateQuantity(size);

  const labels: Record<string, string> = {};
  if (flags.defaultInstancetype) labels['instancetype.kubevirt.io/default-instancetype'] = flags.defaultInstancetype;
  if (flags.defaultInstancetypeKind) labels['instancetype.kubevirt.io/default-instancetype-kind'] = flags.defaultInstancetypeKind;
  if (flags.defaultPreference) labels['instancetype.kubevirt.io/default-preference'] = flags.defaultPreference;
  if (flags.defaultPreferenceKind) labels['instancetype.kubevirt.io/default-preference-kind'] = flags.defaultPreferenceKind;

  let uploadProxyUrl = flags.uploadproxyUrl || undefined;
  if (uploadProxyUrl && !/^https?:\/\//i.test(uploadProxyUrl)) uploadProxyUrl = `https://${uploadProxyUrl}`;

  return {
    kind,
    name,
    path: (flags.imagePath || flags.archivePath)!,
    contentType: flags.archivePath ? 'archive' : 'kubevirt',
    size,
    storageClass: flags.storageClass || undefined,
    accessMode: flags.accessMode || undefined,
    volumeMode: (volumeMode || undefined) as UploadPlan['volumeMode'],
    noCreate,
    waitSecs: count(flags.waitSecs, 300, 'wait-secs'),
    retries: Math.max(1, count(flags.retry, 5, 'retry')),
    forceBind: flags.forceBind === true,
    insecure: flags.insecure === true,
    uploadProxyUrl,
    datasource: flags.datasource === true,
    labels,
    resume: flags.resume === true,
    checksum: flags.checksum || undefined,
  };
}
