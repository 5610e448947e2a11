/**
 * The metadata region: a 64 KiB table ("metadata", then 32-byte entries) pointing at items in
 * the region. Three items decide how the BAT reads: file parameters (block size, has-parent
 * flag), the virtual disk size and the logical sector size.
 */
import { guidHex, invalid, MiB, readGuid, unsupported, u64, type Region } from './layout.ts';

export const TABLE_BYTES = 64 * 1024;
const MAX_ENTRIES = 2047;
const IS_REQUIRED = 4;
/** VHDX's own limit on the virtual size. */
const MAX_VIRTUAL_SIZE = 64 * 1024 * MiB * 1024;

const FILE_PARAMETERS = guidHex('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
const VIRTUAL_DISK_SIZE = guidHex('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
const LOGICAL_SECTOR_SIZE = guidHex('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
/** Known items this reader does not need: physical sector size, page 83 data, parent locator. */
const INFORMATIONAL = new Set([
  guidHex('CDA348C7-445D-4471-9CC9-E9885251C556'),
  guidHex('BECA12AB-B2E6-4523-93EF-C309E000C746'),
  guidHex('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C'),
]);

/** Item, offset from the region start and length of the items the reader needs. */
interface ItemRef {
  readonly guid: string;
  readonly offset: number;
  readonly length: number;
}

const NEEDED: ReadonlyArray<{ guid: string; name: string; length: number }> = [
  { guid: FILE_PARAMETERS, name: 'file parameters', length: 8 },
  { guid: VIRTUAL_DISK_SIZE, name: 'virtual disk size', length: 8 },
  { guid: LOGICAL_SECTOR_SIZE, name: 'logical sector size', length: 4 },
];

/** Where in the region the needed items are, in increasing offset order. */
export function parseMetadataTable(table: Uint8Array, region: Region): ItemRef[] {
  if (Buffer.from(table.buffer, table.byteOffset, 8).toString('latin1') !== 'metadata') throw invalid('no "metadata" table signature');
  const v = new DataView(table.buffer, table.byteOffset, table.byteLength);
  const count = v.getUint16(10, true);
  if (count > MAX_ENTRIES) throw invalid(`the metadata table has ${count} entries, more than ${MAX_ENTRIES}`);
  const found = new Map<string, ItemRef>();
  for (let i = 0; i < count; i++) {
    const at = 32 + i * 32;
    const guid = readGuid(table, at);
    const offset = v.getUint32(at + 16, true);
    const length = v.getUint32(at + 20, true);
    const need = NEEDED.find((n) => n.guid === guid);
    if (!need) {
      if (!INFORMATIONAL.has(guid) && (v.getUint32(at + 24, true) & IS_REQUIRED) !== 0) throw unsupported(`it has a required metadata item of an unknown kind (${guid})`);
      continue;
    }
    if (found.has(guid)) throw invalid(`the metadata table lists the ${need.name} twice`);
    if (length < need.length || offset < TABLE_BYTES || offset + length > region.length) {
      throw invalid(`the ${need.name} item (offset ${offset}, length ${length}) is not inside the metadata region after its table`);
    }
    found.set(guid, { guid, offset, length: need.length });
  }
  for (const need of NEEDED) if (!found.has(need.guid)) throw invalid(`the metadata has no ${need.name}`);
  return [...found.values()].sort((a, b) => a.offset - b.offset);
}

export interface DiskParameters {
  readonly blockSize: number;
  readonly virtualSize: number;
  readonly logicalSectorSize: number;
}

export function diskParameters(items: ReadonlyMap<string, Uint8Array>): DiskParameters {
  const at = (guid: string): DataView => {
    const bytes = items.get(guid)!;
    return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
  const params = at(FILE_PARAMETERS);
  const blockSize = params.getUint32(0, true);
  if ((params.getUint32(4, true) & 2) !== 0) throw unsupported('it is a differencing disk: its data is partly in a parent image, which an import cannot follow');
  if (blockSize < MiB || blockSize > 256 * MiB || (blockSize & (blockSize - 1)) !== 0) throw invalid(`block size ${blockSize} is not a power of two from 1 MiB to 256 MiB`);
  const virtualSize = u64(at(VIRTUAL_DISK_SIZE), 0, 'virtual disk size');
  if (virtualSize > MAX_VIRTUAL_SIZE) throw invalid(`virtual disk size ${virtualSize} is larger than the 64 TiB VHDX maximum`);
  const logicalSectorSize = at(LOGICAL_SECTOR_SIZE).getUint32(0, true);
  if (logicalSectorSize !== 512 && logicalSectorSize !== 4096) throw invalid(`logical sector size ${logicalSectorSize} is neither 512 nor 4096`);
  if (virtualSize % logicalSectorSize !== 0) throw invalid(`virtual disk size ${virtualSize} is not a multiple of the ${logicalSectorSize}-byte logical sector`);
  return { blockSize, virtualSize, logicalSectorSize };
}
