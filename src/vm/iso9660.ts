/**
 * A small ISO 9660 writer for cloud-init disks: a primary volume descriptor with the label
 * cloud-init looks for (`cidata`, `config-2`), directories and files, no Rock Ridge or Joliet.
 * Names are written as given with the `;1` version suffix; Linux's isofs shows them lower case
 * without it, which is how cloud-init reads `user-data` or `openstack/latest/user_data`.
 */
export interface IsoFile {
  /** Slash-separated path below the root, e.g. `openstack/latest/user_data`. */
  path: string;
  data: Buffer;
}

const sectorSize = 2048;

interface Dir {
  name: string;
  parent: Dir | undefined;
  dirs: Dir[];
  files: Array<{ name: string; data: Buffer; lba: number }>;
  lba: number;
  size: number;
  number: number;
}

export function buildIso(volumeId: string, files: readonly IsoFile[]): Buffer {
  const root: Dir = { name: '', parent: undefined, dirs: [], files: [], lba: 0, size: 0, number: 1 };
  for (const f of files) {
    const parts = f.path.split('/').filter(Boolean);
    const name = parts.pop();
    if (!name) throw new Error(`ISO file path ${JSON.stringify(f.path)} has no name`);
    let dir = root;
    for (const part of parts) {
      let next = dir.dirs.find((d) => d.name === part);
      if (!next) {
        next = { name: part, parent: dir, dirs: [], files: [], lba: 0, size: 0, number: 0 };
        dir.dirs.push(next);
      }
      dir = next;
    }
    dir.files.push({ name: `${name};1`, data: f.data, lba: 0 });
  }
  // Breadth first, as the path table must list directories.
  const dirs: Dir[] = [root];
  for (let i = 0; i < dirs.length; i++) dirs.push(...dirs[i]!.dirs.sort((a, b) => cmp(a.name, b.name)));
  dirs.forEach((d, i) => (d.number = i + 1));
  for (const d of dirs) d.files.sort((a, b) => cmp(a.name, b.name));

  const pathTable = (bigEndian: boolean) => Buffer.concat(dirs.map((d) => pathTableEntry(d, bigEndian)));
  const pathTableSize = pathTable(false).length;
  const pathSectors = Math.ceil(pathTableSize / sectorSize);
  let lba = 18;
  const lPath = lba;
  lba += pathSectors;
  const mPath = lba;
  lba += pathSectors;
  for (const d of dirs) {
    d.size = roundUp(directoryBytes(d), sectorSize);
    d.lba = lba;
    lba += d.size / sectorSize;
  }
  for (const d of dirs) {
    for (const f of d.files) {
      f.lba = lba;
      lba += Math.max(1, Math.ceil(f.data.length / sectorSize));
    }
  }
  const image = Buffer.alloc(lba * sectorSize);
  primaryDescriptor(root, volumeId, lba, pathTableSize, lPath, mPath).copy(image, 16 * sectorSize);
  image.set([255, ...Buffer.from('CD001'), 1], 17 * sectorSize);
  pathTable(false).copy(image, lPath * sectorSize);
  pathTable(true).copy(image, mPath * sectorSize);
  for (const d of dirs) directory(d).copy(image, d.lba * sectorSize);
  for (const d of dirs) for (const f of d.files) f.data.copy(image, f.lba * sectorSize);
  return image;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function roundUp(n: number, to: number): number {
  return Math.max(to, Math.ceil(n / to) * to);
}

function bothEndian32(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(n, 0);
  b.writeUInt32BE(n, 4);
  return b;
}

function bothEndian16(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16LE(n, 0);
  b.writeUInt16BE(n, 2);
  return b;
}

/** A record never spans sectors: one that would is moved to the next sector. */
function directoryRecords(d: Dir): Buffer[] {
  const self = record(Buffer.from([0]), d.lba, d.size, true);
  const parent = d.parent ?? d;
  const up = record(Buffer.from([1]), parent.lba, parent.size, true);
  return [self, up, ...d.dirs.map((c) => record(Buffer.from(c.name), c.lba, c.size, true)), ...d.files.map((f) => record(Buffer.from(f.name), f.lba, f.data.length, false))];
}

function directoryBytes(d: Dir): number {
  return layoutRecords(directoryRecords(d)).length;
}

function directory(d: Dir): Buffer {
  return layoutRecords(directoryRecords(d));
}

function layoutRecords(records: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  let used = 0;
  for (const r of records) {
    const room = sectorSize - (used % sectorSize);
    if (r.length > room) {
      parts.push(Buffer.alloc(room));
      used += room;
    }
    parts.push(r);
    used += r.length;
  }
  return Buffer.concat(parts);
}

function record(name: Buffer, lba: number, size: number, isDir: boolean): Buffer {
  const len = 33 + name.length + (name.length % 2 === 0 ? 1 : 0);
  const r = Buffer.alloc(len);
  r[0] = len;
  bothEndian32(lba).copy(r, 2);
  bothEndian32(size).copy(r, 10);
  recordingDate().copy(r, 18);
  r[25] = isDir ? 2 : 0;
  bothEndian16(1).copy(r, 28);
  r[32] = name.length;
  name.copy(r, 33);
  return r;
}

function recordingDate(): Buffer {
  // A fixed date: the same inputs make the same image.
  return Buffer.from([100, 1, 1, 0, 0, 0, 0]);
}

function pathTableEntry(d: Dir, bigEndian: boolean): Buffer {
  const name = d.parent ? Buffer.from(d.name) : Buffer.from([0]);
  const b = Buffer.alloc(8 + name.length + (name.length % 2));
  b[0] = name.length;
  if (bigEndian) {
    b.writeUInt32BE(d.lba, 2);
    b.writeUInt16BE(d.parent?.number ?? 1, 6);
  } else {
    b.writeUInt32LE(d.lba, 2);
    b.writeUInt16LE(d.parent?.number ?? 1, 6);
  }
  name.copy(b, 8);
  return b;
}

function padded(text: string, length: number): Buffer {
  return Buffer.from(text.padEnd(length, ' ').slice(0, length), 'ascii');
}

function primaryDescriptor(root: Dir, volumeId: string, sectors: number, pathTableSize: number, lPath: number, mPath: number): Buffer {
  const b = Buffer.alloc(sectorSize);
  b.set([1, ...Buffer.from('CD001'), 1], 0);
  padded('', 32).copy(b, 8);
  padded(volumeId, 32).copy(b, 40);
  bothEndian32(sectors).copy(b, 80);
  bothEndian16(1).copy(b, 120);
  bothEndian16(1).copy(b, 124);
  bothEndian16(sectorSize).copy(b, 128);
  bothEndian32(pathTableSize).copy(b, 132);
  b.writeUInt32LE(lPath, 140);
  b.writeUInt32BE(mPath, 148);
  record(Buffer.from([0]), root.lba, root.size, true).copy(b, 156);
  for (const [offset, length] of [[190, 128], [318, 128], [446, 128], [574, 128], [702, 37], [739, 37], [776, 37]] as const) padded('', length).copy(b, offset);
  padded('CDI-TS', 128).copy(b, 574);
  const noDate = Buffer.concat([Buffer.from('0000000000000000', 'ascii'), Buffer.from([0])]);
  for (const offset of [813, 830, 847, 864]) noDate.copy(b, offset);
  b[881] = 1;
  return b;
}
