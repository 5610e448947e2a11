/**
 * The VMDK text descriptor: which kind of disk this is and where its extents live. A single-file
 * import can only use extents inside the bytes it was given, so every descriptor that names
 * another file (split images, flat data beside the descriptor, snapshots with a parent, an
 * absolute path such as /etc/shadow) is refused before anything is read on its behalf.
 */
import { CdiError } from '../../api/errors.ts';
import { invalid, SECTOR, unsupported, type SparseHeader } from './header.ts';

export const DESCRIPTOR_MAGIC = '# Disk DescriptorFile';
/** Descriptors are a few hundred bytes; qemu reads at most 1 MiB of one. */
export const MAX_DESCRIPTOR_BYTES = 64 * 1024;

interface ExtentLine {
  readonly access: string;
  readonly sectors: number;
  readonly type: string;
  readonly file: string;
  /** Sector offset inside the file (FLAT extents). */
  readonly offset: number;
}

export interface Descriptor {
  readonly createType: string;
  readonly extents: readonly ExtentLine[];
}

const SPLIT_TYPES = new Set(['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat']);

/** The descriptor text: up to the first NUL (descriptors are padded with zeros). */
export function descriptorText(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, nul === -1 ? bytes.byteLength : nul)).toString('latin1');
}

export function parseDescriptor(text: string): Descriptor {
  let createType: string | undefined;
  let parentCID: string | undefined;
  const extents: ExtentLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const setting = /^([A-Za-z0-9_.]+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (setting) {
      const [, key, value] = setting;
      if (key === 'createType') createType = value;
      else if (key === 'parentCID' && value!.toLowerCase() !== 'ffffffff') parentCID = value;
      else if (key === 'parentFileNameHint') throw new CdiError('CDI_ERR_VMDK_EXTERNAL_FILE', [value!]);
      continue;
    }
    const extent = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+(\S+)\s+"([^"]*)"(?:\s+(\d+))?\s*$/.exec(line);
    if (extent) {
      const [, access, sectors, type, file, offset] = extent;
      extents.push({ access: access!, sectors: Number(sectors), type: type!, file: file!, offset: offset === undefined ? 0 : Number(offset) });
    }
    // other lines (change tracking files, DDB entries in other spellings) do not change the data
  }
  if (parentCID !== undefined) throw unsupported(`the disk is a delta of a parent disk (parentCID=${parentCID})`);
  if (createType === undefined) throw invalid('the descriptor has no createType');
  if (SPLIT_TYPES.has(createType)) {
    throw unsupported(`${createType} images are split over several files; convert them to one file first (qemu-img convert -O vmdk -o subformat=streamOptimized)`);
  }
  return { createType, extents };
}

/**
 * The embedded descriptor of a sparse extent: it must describe this one extent (its file name
 * is this file's, whatever it was called) and agree with the header's capacity.
 */
function checkEmbedded(desc: Descriptor, virtualSize: number): void {
  if (desc.extents.length > 1) throw new CdiError('CDI_ERR_VMDK_EXTERNAL_FILE', [desc.extents[1]!.file]);
  const extent = desc.extents[0];
  if (!extent) return;
  if (extent.type !== 'SPARSE') throw invalid(`a sparse extent describes itself as a ${extent.type} extent`);
  if (extent.sectors * SECTOR !== virtualSize) {
    throw invalid(`the header says ${virtualSize} bytes but the descriptor says ${extent.sectors * SECTOR}`);
  }
}

interface FlatLayout {
  /** Byte offset of the extent inside the stream. */
  readonly offset: number;
  readonly virtualSize: number;
}

/**
 * A descriptor-only file (monolithicFlat, vmfs) is usable only when its one FLAT/VMFS extent
 * lies in the same stream, after the descriptor: an extent at offset 0 is the usual
 * `-flat.vmdk` beside the descriptor, another file. `descriptorBytes` is the padded descriptor's size.
 */
export function flatLayout(desc: Descriptor, descriptorBytes: number): FlatLayout {
  if (desc.extents.length === 0) throw invalid('the descriptor has no extents');
  if (desc.extents.length > 1) throw new CdiError('CDI_ERR_VMDK_EXTERNAL_FILE', [desc.extents[1]!.file]);
  const extent = desc.extents[0]!;
  if (extent.type !== 'FLAT' && extent.type !== 'VMFS') throw new CdiError('CDI_ERR_VMDK_EXTERNAL_FILE', [extent.file]);
  if (extent.file.includes('/') || extent.file.includes('\\') || extent.offset * SECTOR < descriptorBytes || extent.offset === 0) {
    throw new CdiError('CDI_ERR_VMDK_EXTERNAL_FILE', [extent.file]);
  }
  if (extent.sectors === 0 || !Number.isSafeInteger(extent.sectors * SECTOR) || !Number.isSafeInteger((extent.offset + extent.sectors) * SECTOR)) {
    throw invalid(`extent of ${extent.sectors} sectors at sector ${extent.offset} is out of range`);
  }
  return { offset: extent.offset * SECTOR, virtualSize: extent.sectors * SECTOR };
}

/** The embedded descriptor must describe this file alone; a header with no capacity defers to a descriptor naming other files. */
export function checkDescriptor(bytes: Uint8Array, h: SparseHeader): void {
  const desc = parseDescriptor(descriptorText(bytes));
  if (h.virtualSize === 0 && desc.extents.length > 0) throw new CdiError('CDI_ERR_VMDK_EXTERNAL_FILE', [desc.extents[0]!.file]);
  checkEmbedded(desc, h.virtualSize);
}
