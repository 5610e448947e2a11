/**
 * The mapping a block-table format (VHD, VHDX) decodes into: guest stretches stored whole at a
 * host offset, each optionally preceded by per-block metadata (a VHD sector bitmap) that says
 * which parts of it hold data. The random-access and one-pass readers in this folder turn such a
 * map into extents, so a format only parses its headers and table.
 */
import type { CdiError } from '../../api/errors.ts';

export interface MappedBlock {
  /** Guest offset of the block's first byte. */
  readonly guest: number;
  /** Host offset of the block: of its prefix when it has one, else of its data. */
  readonly host: number;
  /** Bytes of per-block metadata before the data (0 when none). */
  readonly prefix: number;
  /** Guest bytes the block holds (the last block of a disk may be cut by the virtual size). */
  readonly length: number;
  /** Host bytes the block owns, prefix included: what must not overlap anything else. */
  readonly span: number;
}

export interface ZeroRun {
  readonly offset: number;
  readonly length: number;
}

/** Byte ranges [start, end) of a block's data that hold data, decoded from its prefix. */
type PresentRanges = (prefix: Uint8Array, length: number) => Array<readonly [number, number]>;

export interface BlockMap {
  readonly blocks: MappedBlock[];
  /** Guest ranges the table marks as zeros (written as holes or zeros, never read). */
  readonly zeros: ZeroRun[];
  /** Needed when blocks have a prefix. */
  readonly present?: PresentRanges;
}

/** A host range the format's own metadata occupies. */
export interface Reserved {
  readonly start: number;
  readonly end: number;
  readonly what: string;
}

/**
 * Refuses a map whose blocks overlap each other or the format's metadata, or (when the file size
 * is known) reach past the end of the file. `invalid` makes the format's coded error.
 */
export function checkBlocks(map: BlockMap, reserved: readonly Reserved[], fileSize: number | undefined, invalid: (reason: string) => CdiError): void {
  for (const block of map.blocks) {
    const end = block.host + block.prefix + block.length;
    if (fileSize !== undefined && end > fileSize) {
      throw invalid(`block at guest offset ${block.guest} lies at host offset ${block.host}, past the end of the ${fileSize}-byte file`);
    }
    for (const r of reserved) {
      if (block.host < r.end && r.start < block.host + block.span) {
        throw invalid(`block at guest offset ${block.guest} (host offset ${block.host}) overlaps the ${r.what}`);
      }
    }
  }
  const byHost = [...map.blocks].sort((a, b) => a.host - b.host);
  for (let i = 1; i < byHost.length; i++) {
    const prev = byHost[i - 1]!;
    const block = byHost[i]!;
    if (block.host < prev.host + prev.span) {
      throw invalid(`blocks at guest offsets ${prev.guest} and ${block.guest} overlap at host offset ${block.host}`);
    }
  }
}

/** Appends a zero run, joining it to the previous one when they touch. */
export function addZeroRun(zeros: ZeroRun[], offset: number, length: number): void {
  const last = zeros[zeros.length - 1];
  if (last && last.offset + last.length === offset) zeros[zeros.length - 1] = { offset: last.offset, length: last.length + length };
  else zeros.push({ offset, length });
}

/**
 * Most table entries a reader decodes (8 Mi): the table and the map stay in memory, so a header
 * claiming billions of blocks is refused before anything is read. It is 8 TiB in VHDX's smallest
 * (1 MiB) blocks and more than the 2040 GiB VHD maximum in VHD's usual 2 MiB ones.
 */
export const MAX_TABLE_ENTRIES = 1 << 23;
