/**
 * The part of an OVF descriptor an import needs: the file that holds the first disk of the
 * DiskSection (`Disk@fileRef` → `References/File@id` → `File@href`). Elements and attributes are
 * matched by local name, whatever namespace prefix the exporter used. A disk file must be a plain
 * name inside the same OVA: URLs, absolute paths and `..` are refused, as are files split into
 * chunks and compressions other than gzip (which the image sniffer unwraps).
 * Reference: DMTF DSP0243 (OVF 1.x/2.x), §7 (References), §9.1 (DiskSection).
 */
import { CdiError } from '../api/errors.ts';

interface OvfDisk {
  /** The tar entry name of the disk file. */
  readonly href: string;
}

const TAG = /<(?:[\w.-]+:)?(File|Disk)\b((?:[^>"']|"[^"]*"|'[^']*')*)>/g;
const ATTRIBUTE = /(?:[\w.-]+:)?([\w.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;

function invalid(reason: string): CdiError {
  return new CdiError('CDI_ERR_OVA_INVALID', [reason]);
}

function decodeEntities(value: string): string {
  return value.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (e[0] !== '#') return named[e.toLowerCase()]!;
    return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

function attributes(source: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of source.matchAll(ATTRIBUTE)) out.set(m[1]!, decodeEntities(m[2] ?? m[3] ?? ''));
  return out;
}

export function firstOvfDisk(xml: string): OvfDisk {
  const files = new Map<string, Map<string, string>>();
  const disks: Map<string, string>[] = [];
  for (const m of xml.matchAll(TAG)) {
    const attrs = attributes(m[2]!);
    if (m[1] === 'File') {
      const id = attrs.get('id');
      if (id !== undefined) files.set(id, attrs);
    } else {
      disks.push(attrs);
    }
  }
  const disk = disks.find((d) => d.has('fileRef'));
  if (!disk) throw invalid(disks.length === 0 ? 'the OVF descriptor lists no disk' : 'no disk in the OVF descriptor refers to a file');
  const fileRef = disk.get('fileRef')!;
  const file = files.get(fileRef);
  if (!file) throw invalid(`disk ${disk.get('diskId') ?? ''} refers to file ${fileRef}, which the OVF does not list`);
  const href = file.get('href');
  if (!href) throw invalid(`file ${fileRef} has no href`);
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('/') || href.includes('\\') || href.split('/').includes('..')) {
    throw invalid(`disk file ${href} is outside the OVA`);
  }
  if (file.has('chunkSize')) throw new CdiError('CDI_ERR_OVA_UNSUPPORTED', [`disk file ${href} split into chunks`]);
  const compression = file.get('compression');
  if (compression !== undefined && compression !== 'identity' && compression !== 'gzip') {
    throw new CdiError('CDI_ERR_OVA_UNSUPPORTED', [`compression ${compression} of disk file ${href}`]);
  }
  return { href: href.replace(/^(\.\/)+/, '') };
}
