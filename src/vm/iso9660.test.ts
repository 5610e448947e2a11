import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCloudInitIso } from './cloud-init.ts';
import { buildIso } from './iso9660.ts';

const run = promisify(execFile);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'cdi-iso-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** genisoimage's isoinfo and util-linux's blkid, independent readers, read back what was written. */
async function write(name: string, image: Buffer): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, image);
  return file;
}
const isoinfo = async (...args: string[]) => (await run('isoinfo', args, { maxBuffer: 16 << 20, encoding: 'buffer' })).stdout;

describe('ISO 9660 writer', () => {
  it('writes a cidata NoCloud disk whose label and files isoinfo and blkid read back', async () => {
    const userData = '#cloud-config\npassword: x\n';
    const file = await write('nocloud.iso', buildCloudInitIso({ kind: 'noCloud', instanceId: 'vm1.ci', userData, networkData: 'version: 2\n' }));
    expect((await run('blkid', ['-o', 'export', file])).stdout).toMatch(/LABEL=cidata[\s\S]*TYPE=iso9660/);
    const listing = (await isoinfo('-i', file, '-f')).toString();
    expect(listing.split('\n').filter(Boolean).sort()).toEqual(['/meta-data;1', '/network-config;1', '/user-data;1']);
    expect((await isoinfo('-i', file, '-x', '/user-data;1')).toString()).toBe(userData);
    expect((await isoinfo('-i', file, '-x', '/meta-data;1')).toString()).toBe('instance-id: vm1.ci\n');
  });

  it('writes nested directories for a config-2 ConfigDrive disk', async () => {
    const file = await write('configdrive.iso', buildCloudInitIso({ kind: 'configDrive', instanceId: 'i-1', userData: 'ud' }));
    expect((await run('blkid', ['-o', 'export', file])).stdout).toContain('LABEL=config-2');
    const listing = (await isoinfo('-i', file, '-f')).toString();
    expect(listing).toContain('/openstack/latest/user_data;1');
    expect((await isoinfo('-i', file, '-x', '/openstack/latest/user_data;1')).toString()).toBe('ud');
    expect(JSON.parse((await isoinfo('-i', file, '-x', '/openstack/latest/meta_data.json;1')).toString())).toEqual({ instance_id: 'i-1', uuid: 'i-1' });
  });

  it('keeps a file larger than a sector and many directory records intact', async () => {
    const big = Buffer.alloc(5000, 7);
    const files = [{ path: 'big', data: big }, ...Array.from({ length: 80 }, (_, i) => ({ path: `dir/file-${String(i).padStart(3, '0')}`, data: Buffer.from(`f${i}`) }))];
    const file = await write('many.iso', buildIso('many', files));
    expect(Buffer.compare(await isoinfo('-i', file, '-x', '/big;1'), big)).toBe(0);
    expect((await isoinfo('-i', file, '-x', '/dir/file-079;1')).toString()).toBe('f79');
    expect((await isoinfo('-i', file, '-f')).toString().split('\n').filter((l) => l.startsWith('/dir/')).length).toBe(80);
  });
});
