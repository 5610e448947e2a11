import { describe, expect, it } from 'vitest';
import { parseChallenge } from './auth.ts';
import { LayerView } from './disk-finder.ts';
import { labelsFromEnv } from './manifest.ts';
import { parseImageReference } from './reference.ts';

describe('docker:// references', () => {
  it('parses host, port, repository, tag and digest', () => {
    expect(parseImageReference('docker://127.0.0.1:5000/kubevirt/fedora:39')).toEqual({ registry: '127.0.0.1:5000', repository: 'kubevirt/fedora', tag: '39', digest: undefined });
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseImageReference(`docker://quay.io/c/d@${digest}`)).toEqual({ registry: 'quay.io', repository: 'c/d', tag: undefined, digest });
    expect(parseImageReference('docker://cirros')).toEqual({ registry: 'registry-1.docker.io', repository: 'library/cirros', tag: 'latest', digest: undefined });
    expect(() => parseImageReference('http://x/y')).toThrow(/invalid registry url/);
    expect(() => parseImageReference('docker://host/Repo')).toThrow(/Repo is invalid/);
  });
});

describe('auth challenges', () => {
  it('reads Bearer and Basic parameters', () => {
    expect(parseChallenge('Bearer realm="https://auth/token",service="reg",scope="repository:a/b:pull"')).toEqual({
      scheme: 'bearer', params: { realm: 'https://auth/token', service: 'reg', scope: 'repository:a/b:pull' },
    });
    expect(parseChallenge('Basic realm="x"')?.scheme).toBe('basic');
    expect(parseChallenge('Negotiate')).toBeUndefined();
  });
});

describe('disk file across layers', () => {
  it('honours whiteouts, opaque directories and upper files', () => {
    const view = new LayerView();
    view.startLayer();
    expect(view.entry('disk/.wh.old.img', 'file')).toBe(false);
    expect(view.entry('./disk/', 'directory')).toBe(false);
    expect(view.entry('./disk/new.img', 'file')).toBe(true);
    view.startLayer();
    expect(view.entry('disk/old.img', 'file')).toBe(false);
    expect(view.entry('disk/new.img', 'file')).toBe(false);
    expect(view.found()).toBe('disk/new.img');
    const opaque = new LayerView();
    opaque.startLayer();
    opaque.entry('disk/.wh..wh..opq', 'file');
    opaque.startLayer();
    expect(opaque.entry('disk/a.img', 'file')).toBe(false);
    expect(() => opaque.found()).toThrow('Failed to find VM disk image file in the container image');
  });

  it('refuses a second visible disk, and ignores links and files outside disk/', () => {
    const view = new LayerView();
    view.startLayer();
    expect(view.entry('disk/a.img', 'file')).toBe(true);
    expect(view.entry('disk/link', 'symlink')).toBe(false);
    expect(view.entry('disk.img', 'file')).toBe(false);
    expect(() => view.entry('disk/b.img', 'file')).toThrow('image directory contains more than one file: disk/a.img, disk/b.img');
  });

  it('finds one exact path instead (a containerDisk path), whited out or not, and names it when missing', () => {
    const view = new LayerView('/custom/boot.qcow2');
    view.startLayer();
    expect(view.entry('disk/a.img', 'file')).toBe(false);
    expect(view.entry('./custom/boot.qcow2', 'file')).toBe(true);
    expect(view.found()).toBe('custom/boot.qcow2');
    const hidden = new LayerView('custom/boot.qcow2');
    hidden.startLayer();
    hidden.entry('custom/.wh.boot.qcow2', 'file');
    hidden.startLayer();
    expect(hidden.entry('custom/boot.qcow2', 'file')).toBe(false);
    expect(() => hidden.found()).toThrow('the container image has no regular file /custom/boot.qcow2');
  });

  it("turns KUBEVIRT_IO_ env entries into labels as CDI does", () => {
    expect(labelsFromEnv(['INSTANCETYPE_KUBEVIRT_IO_DEFAULT_PREFERENCE=fedora', 'PATH=/bin'])).toEqual({ 'instancetype.kubevirt.io/default-preference': 'fedora' });
  });
});
