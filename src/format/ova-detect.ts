/**
 * Tells an OVA from other tar streams by its first header: DSP0243 puts the OVF descriptor first.
 * Kept apart from ova.ts so that the check does not load the tar reader.
 */
const TAR_NAME = [0, 100] as const;
const TAR_PREFIX = [345, 500] as const;
const USTAR = 'ustar';

function field(head: Uint8Array, [start, end]: readonly [number, number]): string {
  const bytes = head.subarray(start, end);
  const nul = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, nul === -1 ? bytes.byteLength : nul)).toString('utf8');
}

/** True when `head` starts a ustar archive whose first entry is an .ovf file. */
export function isOva(head: Uint8Array): boolean {
  if (head.byteLength < 512 || field(head, [257, 262]) !== USTAR) return false;
  const prefix = field(head, TAR_PREFIX);
  const name = prefix ? `${prefix}/${field(head, TAR_NAME)}` : field(head, TAR_NAME);
  return name.toLowerCase().endsWith('.ovf');
}
