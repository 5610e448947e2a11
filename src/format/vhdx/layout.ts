/**
 * The fixed part of a VHDX file (little-endian): the file identifier, two headers (at 64 and
 * 128 KiB, CRC-32C each; the valid one with the higher sequence number is current) and two
 * copies of the region table (at 192 and 256 KiB, CRC-32C) that locate the BAT and the metadata
 * region. All of it sits in the first 320 KiB of the 1 MiB header section.
 */
import { CdiError } from '../../api/errors.ts';
import { crc32cWithHole } from '../crc32c.ts';

export const MiB = 1024 * 1024;
export const HEADER_SECTION = MiB;
const HEADER_AT = [64 * 1024, 128 * 1024];
const HEADER_BYTES = 4096;
const REGION_TABLE_AT = [192 * 1024, 256 * 1024];
const REGION_TABLE_BYTES = 64 * 1024;
const MAX_REGIONS = 2047;
/** Bytes to read from the start of the file to see all of the above. */
export const LAYOUT_BYTES = 320 * 1024;

const BAT_REGION = guidHex('2DC27766-F623-4200-9D64-115E9BFD4A08');
const METADATA_REGION = guidHex('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const ZERO_GUID = '0'.repeat(32);

export const invalid = (reason: string): CdiError => new CdiError('CDI_ERR_VHDX_INVALID', [reason]);
export const unsupported = (reason: string): CdiError => new CdiError('CDI_ERR_VHDX_UNSUPPORTED', [reason]);

/** A GUID as VHDX stores it: the first three fields little-endian, the last eight bytes in order; as hex. */
export function guidHex(text: string): string {
  const [a, b, c, d, e] = text.split('-') as [string, string, string, string, string];
  const swap = (s: string): string => s.match(/../g)!.reverse().join('');
  return `${swap(a)}${swap(b)}${swap(c)}${d}${e}`.toLowerCase();
}

export function readGuid(bytes: Uint8Array, at: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + at, 16).toString('hex');
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A little-endian u64 that must fit a JavaScript number exactly. */
export function u64(v: DataView, at: number, what: string): number {
  const value = v.getBigUint64(at, true);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`${what} 0x${value.toString(16)} is out of range`);
  return Number(value);
}

export interface Region {
  readonly offset: number;
  readonly length: number;
}

export interface Layout {
  readonly logOffset: number;
  readonly logLength: number;
  readonly bat: Region;
  readonly metadata: Region;
}

/** Parses the file identifier, the current header and the region table from the first LAYOUT_BYTES of the file. */
export function parseLayout(head: Uint8Array): Layout {
  if (head.byteLength < LAYOUT_BYTES) throw new CdiError('CDI_ERR_TRUNCATED', [`the VHDX header section needs ${LAYOUT_BYTES} bytes, got ${head.byteLength}`]);
  if (Buffer.from(head.buffer, head.byteOffset, 8).toString('latin1') !== 'vhdxfile') throw invalid('no "vhdxfile" file identifier');
  const header = currentHeader(head);
  const table = regionTable(head);
  return { ...header, ...table };
}

interface Header {
  readonly sequence: bigint;
  readonly version: number;
  readonly logOffset: number;
  readonly logLength: number;
  readonly bytes: Uint8Array;
  readonly logGuid: string;
}

function currentHeader(head: Uint8Array): { logOffset: number; logLength: number } {
  const parsed = HEADER_AT.map((at) => parseHeader(head.subarray(at, at + HEADER_BYTES)));
  const valid = parsed.filter((h): h is Header => typeof h !== 'string');
  if (valid.length === 0) throw invalid(`neither header is valid (first: ${parsed[0] as string}; second: ${parsed[1] as string})`);
  let current = valid[0]!;
  if (valid.length === 2) {
    const [first, second] = valid as [Header, Header];
    if (first.sequence === second.sequence && Buffer.compare(first.bytes, second.bytes) !== 0) {
      throw invalid(`both headers have sequence number ${first.sequence} but differ`);
    }
    current = second.sequence > first.sequence ? second : first;
  }
  if (current.version !== 1) throw unsupported(`header version ${current.version} (only version 1 exists)`);
  // A log entry may hold newer copies of the BAT or metadata than the regions do: reading
  // without replaying it would read stale data.
  if (current.logGuid !== ZERO_GUID) throw new CdiError('CDI_ERR_VHDX_LOG', [current.logGuid]);
  return { logOffset: current.logOffset, logLength: current.logLength };
}

function parseHeader(bytes: Uint8Array): Header | string {
  const v = view(bytes);
  if (v.getUint32(0, true) !== 0x64616568) return 'no "head" signature';
  const stored = v.getUint32(4, true);
  const computed = crc32cWithHole(bytes, 4);
  if (stored !== computed) return `CRC-32C is 0x${stored.toString(16)}, the header's is 0x${computed.toString(16)}`;
  return {
    version: v.getUint16(66, true),
    sequence: v.getBigUint64(8, true),
    logGuid: readGuid(bytes, 48),
    logLength: v.getUint32(68, true),
    logOffset: u64(v, 72, 'log offset'),
    bytes,
  };
}

function regionTable(head: Uint8Array): { bat: Region; metadata: Region } {
  const reasons: string[] = [];
  for (const at of REGION_TABLE_AT) {
    const result = parseRegionTable(head.subarray(at, at + REGION_TABLE_BYTES));
    if (typeof result !== 'string') return result;
    reasons.push(result);
  }
  throw invalid(`neither region table is valid (first: ${reasons[0]}; second: ${reasons[1]})`);
}

/** The BAT and metadata regions, or why this copy of the table is not valid. */
function parseRegionTable(bytes: Uint8Array): { bat: Region; metadata: Region } | string {
  const v = view(bytes);
  if (v.getUint32(0, true) !== 0x69676572) return 'no "regi" signature';
  const stored = v.getUint32(4, true);
  const computed = crc32cWithHole(bytes, 4);
  if (stored !== computed) return `CRC-32C is 0x${stored.toString(16)}, the table's is 0x${computed.toString(16)}`;
  const count = v.getUint32(8, true);
  if (count > MAX_REGIONS) return `${count} entries, more than ${MAX_REGIONS}`;
  let bat: Region | undefined;
  let metadata: Region | undefined;
  for (let i = 0; i < count; i++) {
    const at = 16 + i * 32;
    const guid = readGuid(bytes, at);
    const region = { offset: u64(v, at + 16, 'region offset'), length: v.getUint32(at + 24, true) };
    const required = (v.getUint32(at + 28, true) & 1) !== 0;
    if (guid !== BAT_REGION && guid !== METADATA_REGION) {
      if (required) throw unsupported(`it has a required region of an unknown kind (${guid})`);
      continue;
    }
    const name = guid === BAT_REGION ? 'BAT' : 'metadata';
    if ((guid === BAT_REGION ? bat : metadata) !== undefined) throw invalid(`the region table lists the ${name} region twice`);
    if (region.offset % MiB !== 0 || region.length % MiB !== 0 || region.offset < HEADER_SECTION || region.length === 0) {
      throw invalid(`the ${name} region (offset ${region.offset}, length ${region.length}) is not a non-empty run of whole MiB after the header section`);
    }
    if (guid === BAT_REGION) bat = region;
    else metadata = region;
  }
  if (!bat || !metadata) throw invalid(`the region table has no ${bat ? 'metadata' : 'BAT'} region`);
  if (bat.offset < metadata.offset + metadata.length && metadata.offset < bat.offset + bat.length) throw invalid('the BAT and metadata regions overlap');
  return { bat, metadata };
}
