/**
 * OVA import: a tar whose first entry is an OVF descriptor imports the descriptor's first disk,
 * streaming through the tar reader, in file, pipe and odd-chunk modes, bare or gzip-wrapped,
 * with the disk itself raw, qcow2, gzip-compressed (ovf:compression) or a streamOptimized VMDK.
 * Broken or hostile OVAs are refused with coded errors and leave no target.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { built, fixtures, writeMixedRaw } from '../qcow2/fixtures.ts';
import { qemuImg, sha256File } from '../support/qemu.ts';
import { codeOf, convertWith, exists, tempDir, type Feed } from './helpers.ts';

const sh = promisify(execFile);
let dir: string;
let cleanup: () => Promise<void>;
let qcow2: { bytes: Buffer; reference: string };
let raw: { bytes: Buffer; reference: string };

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
  const img = await built(fixtures.find((f) => f.name === 'small-64k')!);
  qcow2 = { bytes: await readFile(img.file), reference: img.reference };
  const rawFile = path.join(dir, 'disk.raw');
  await writeMixedRaw(rawFile, 3 * 1024 * 1024 + 4096, 32 * 1024, 77);
  raw = { bytes: await readFile(rawFile), reference: await sha256File(rawFile) };
});
afterAll(() => cleanup());

interface OvfFile {
  id: string;
  href: string;
  attrs?: string;
}

/** An OVF descriptor as exporters write it (namespaced attributes, a DiskSection, a VirtualSystem). */
function ovf(files: OvfFile[], diskRefs: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
${files.map((f) => `    <File ovf:id="${f.id}" ovf:href="${f.href}" ${f.attrs ?? ''}/>`).join('\n')}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
${diskRefs.map((ref, i) => `    <Disk ovf:capacity="1" ovf:diskId="vmdisk${i + 1}" ovf:fileRef="${ref}" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>`).join('\n')}
  </DiskSection>
  <VirtualSystem ovf:id="vm"><Info>A virtual machine</Info><Name>vm</Name></VirtualSystem>
</Envelope>
`;
}

type TarEntry = { name: string; data: Uint8Array } | { name: string; type: 'directory' | 'symlink'; linkname?: string };

async function writeTar(name: string, entries: TarEntry[]): Promise<string> {
  const pack = tar.pack();
  for (const e of entries) {
    if ('data' in e) pack.entry({ name: e.name }, Buffer.from(e.data));
    else pack.entry({ name: e.name, type: e.type, ...(e.linkname ? { linkname: e.linkname } : {}) });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const file = path.join(dir, name);
  await writeFile(file, Buffer.concat(chunks));
  return file;
}

/** An OVA: the descriptor first, then the given files, then a manifest. */
function ova(name: string, descriptor: string, files: { name: string; data: Uint8Array }[]): Promise<string> {
  return writeTar(name, [{ name: 'vm.ovf', data: Buffer.from(descriptor) }, ...files, { name: 'vm.mf', data: Buffer.from('SHA256(vm.ovf)= 00\n') }]);
}

const feeds: Feed[] = ['file', 'pipe', 'bytes-random'];

describe('OVA import', () => {
  it.each(feeds)('imports a qcow2 disk (%s mode)', async (feed) => {
    const file = await ova('qcow2.ova', ovf([{ id: 'file1', href: 'disk1.qcow2' }], ['file1']), [{ name: 'disk1.qcow2', data: qcow2.bytes }]);
    const target = path.join(dir, `qcow2-${feed}.img`);
    const result = await convertWith(feed, file, { kind: 'file', path: target });
    expect(result.format).toBe('qcow2');
    expect(result.sourceBytes).toBe((await readFile(file)).byteLength);
    expect(await sha256File(target)).toBe(qcow2.reference);
  });

  it.each(feeds)('imports a raw disk of the entry size (%s mode)', async (feed) => {
    const file = await ova('raw.ova', ovf([{ id: 'f', href: './disk.img' }], ['f']), [{ name: 'disk.img', data: raw.bytes }]);
    const target = path.join(dir, `raw-${feed}.img`);
    const result = await convertWith(feed, file, { kind: 'file', path: target });
    expect(result.format).toBe('raw');
    expect(result.virtualSize).toBe(raw.bytes.byteLength);
    expect(await sha256File(target)).toBe(raw.reference);
  });

  it('picks the first disk\'s file whatever the order of files in the archive, and unwraps a gzip disk and a gzip OVA', async () => {
    const descriptor = ovf([{ id: 'decoy', href: 'decoy.img' }, { id: 'real', href: 'real.qcow2.gz', attrs: 'ovf:compression="gzip"' }], ['real', 'decoy']);
    const file = await ova('order.ova', descriptor, [{ name: 'decoy.img', data: raw.bytes }, { name: 'real.qcow2.gz', data: gzipSync(qcow2.bytes) }]);
    const target = path.join(dir, 'order.img');
    const result = await convertWith('pipe', file, { kind: 'file', path: target });
    expect([result.format, result.compressions]).toEqual(['qcow2', ['gzip']]);
    expect(await sha256File(target)).toBe(qcow2.reference);
    const gz = path.join(dir, 'order.ova.gz');
    await writeFile(gz, gzipSync(await readFile(file)));
    const again = await convertWith('file', gz, { kind: 'file', path: target });
    expect([again.format, again.compressions]).toEqual(['qcow2', ['gzip', 'gzip']]);
    expect(await sha256File(target)).toBe(qcow2.reference);
  });

  it('verifies a checksum over the whole OVA, entries after the disk included', async () => {
    const file = await ova('sum.ova', ovf([{ id: 'file1', href: 'disk1.qcow2' }], ['file1']), [{ name: 'disk1.qcow2', data: qcow2.bytes }]);
    const checksum = `sha256:${createHash('sha256').update(await readFile(file)).digest('hex')}`;
    for (const feed of ['file', 'pipe'] as const) {
      const result = await convertWith(feed, file, { kind: 'file', path: path.join(dir, 'sum.img') }, { checksum });
      expect(result.checksum).toBe(checksum);
    }
    const target = path.join(dir, 'sum-bad.img');
    expect(await codeOf(convertWith('pipe', file, { kind: 'file', path: target }, { checksum: `sha256:${'0'.repeat(64)}` }))).toBe('CDI_ERR_CHECKSUM_MISMATCH');
    expect(await exists(target)).toBe(false);
  });

  it('keeps writing a tar whose first entry is not an OVF descriptor as raw, as CDI does', async () => {
    const file = await writeTar('plain.tar', [{ name: 'disk1.qcow2', data: qcow2.bytes }, { name: 'vm.ovf', data: Buffer.from(ovf([{ id: 'f', href: 'disk1.qcow2' }], ['f'])) }]);
    const target = path.join(dir, 'plain.img');
    const result = await convertWith('file', file, { kind: 'file', path: target });
    expect(result.format).toBe('raw');
    expect(await sha256File(target)).toBe(await sha256File(file));
  });

  it('imports a streamOptimized VMDK disk, as ESXi and OVF tools export it', async () => {
    const vmdk = path.join(dir, 'disk.vmdk');
    const rawFile = path.join(dir, 'disk.raw');
    await writeFile(rawFile, raw.bytes);
    await qemuImg('convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', rawFile, vmdk);
    const file = await ova('vmdk.ova', ovf([{ id: 'file1', href: 'disk1.vmdk' }], ['file1']), [{ name: 'disk1.vmdk', data: await readFile(vmdk) }]);
    for (const feed of feeds) {
      const target = path.join(dir, `vmdk-${feed}.img`);
      const result = await convertWith(feed, file, { kind: 'file', path: target });
      expect(result.format).toBe('vmdk');
      expect(await sha256File(target)).toBe(raw.reference);
    }
  });
});

describe('OVA refusals', () => {
  const disk = [{ name: 'disk1.qcow2', data: new Uint8Array(0) }];
  const cases: [string, () => Promise<string>, string][] = [
    ['a disk file missing from the archive', () => ova('missing.ova', ovf([{ id: 'f', href: 'other.qcow2' }], ['f']), disk), 'CDI_ERR_OVA_INVALID'],
    ['an absolute path', () => ova('abs.ova', ovf([{ id: 'f', href: '/etc/shadow' }], ['f']), disk), 'CDI_ERR_OVA_INVALID'],
    ['a parent path', () => ova('parent.ova', ovf([{ id: 'f', href: '../disk1.qcow2' }], ['f']), disk), 'CDI_ERR_OVA_INVALID'],
    ['an http URL', () => ova('url.ova', ovf([{ id: 'f', href: 'http://127.0.0.1:1/disk1.qcow2' }], ['f']), disk), 'CDI_ERR_OVA_INVALID'],
    ['a file URL', () => ova('fileurl.ova', ovf([{ id: 'f', href: 'file:///etc/shadow' }], ['f']), disk), 'CDI_ERR_OVA_INVALID'],
    ['no disk', () => ova('nodisk.ova', ovf([{ id: 'f', href: 'disk1.qcow2' }], []), disk), 'CDI_ERR_OVA_INVALID'],
    ['a disk naming an unlisted file', () => ova('unlisted.ova', ovf([{ id: 'f', href: 'disk1.qcow2' }], ['g']), disk), 'CDI_ERR_OVA_INVALID'],
    ['a disk split into chunks', () => ova('chunked.ova', ovf([{ id: 'f', href: 'disk1.qcow2', attrs: 'ovf:chunkSize="1048576"' }], ['f']), disk), 'CDI_ERR_OVA_UNSUPPORTED'],
    ['an unknown disk compression', () => ova('bz.ova', ovf([{ id: 'f', href: 'disk1.qcow2', attrs: 'ovf:compression="bzip2"' }], ['f']), disk), 'CDI_ERR_OVA_UNSUPPORTED'],
    ['a disk entry that is a symlink', () => writeTar('link.ova', [
      { name: 'vm.ovf', data: Buffer.from(ovf([{ id: 'f', href: 'disk1.qcow2' }], ['f'])) },
      { name: 'disk1.qcow2', type: 'symlink', linkname: '/etc/shadow' },
    ]), 'CDI_ERR_OVA_INVALID'],
    ['an OVA cut inside the disk', async () => {
      const file = await ova('cut-src.ova', ovf([{ id: 'f', href: 'disk1.qcow2' }], ['f']), [{ name: 'disk1.qcow2', data: qcow2.bytes }]);
      const cut = path.join(dir, 'cut.ova');
      await writeFile(cut, (await readFile(file)).subarray(0, 1536 + qcow2.bytes.byteLength / 2));
      return cut;
    }, 'CDI_ERR_TRUNCATED'],
    ['an empty disk', () => ova('empty.ova', ovf([{ id: 'f', href: 'disk1.qcow2' }], ['f']), disk), 'CDI_ERR_EMPTY_INPUT'],
  ];
  it.each(cases.flatMap(([what, make, code]) => (['file', 'pipe'] as const).map((feed) => [what, feed, make, code] as const)))(
    'refuses %s (%s mode) and leaves no target',
    async (what, feed, make, code) => {
      const file = await make();
      const target = path.join(dir, `bad-${what.replaceAll(' ', '-')}-${feed}.img`);
      expect(await codeOf(convertWith(feed, file, { kind: 'file', path: target }))).toBe(code);
      expect(await exists(target)).toBe(false);
    },
  );

  it('exits non-zero from the CLI with the coded message', async () => {
    const file = await ova('cli.ova', ovf([{ id: 'f', href: '/etc/shadow' }], ['f']), disk);
    const cdi = path.resolve(import.meta.dirname, '../../bin/cdi');
    const target = path.join(dir, 'cli.img');
    const result = await sh(cdi, ['convert', file, target]).then(() => undefined, (err: { code: number; stderr: string }) => err);
    expect(result?.code).toBe(2);
    expect(result?.stderr).toBe('cdi: CDI_ERR_OVA_INVALID: invalid OVA: disk file /etc/shadow is outside the OVA\n');
    expect(await exists(target)).toBe(false);
  });
});
