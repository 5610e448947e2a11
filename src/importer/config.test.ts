import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv } from './config.ts';
import { usableSpace } from '../api/quantity.ts';

describe('importer env contract', () => {
  it("reads CDI's variables", () => {
    const c = configFromEnv({
      IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: ' https://h/x.qcow2 ', IMPORTER_IMAGE_SIZE: '10Gi', FILESYSTEM_OVERHEAD: '0.055',
      INSECURE_TLS: 'true', PREALLOCATION: 'false', IMPORTER_EXTRA_HEADER_1: 'B: two', IMPORTER_EXTRA_HEADER_0: 'A: one: colon',
      IMPORTER_CHECKSUM: 'sha256:ab', OWNER_UID: 'u', CDI_TARGET_PATH: '/tmp/t/disk.img', CDI_LISTEN_PORT: '0', CDI_TERMINATION_LOG: '/tmp/t/log',
    });
    expect(c).toMatchObject({
      source: 'http', endpoint: 'https://h/x.qcow2', imageSize: 10 * 2 ** 30, filesystemOverhead: 0.055, insecureTls: true, preallocation: false,
      extraHeaders: [['A', 'one: colon'], ['B', 'two']], checksum: 'sha256:ab', ownerUid: 'u', contentType: 'kubevirt',
      target: { kind: 'file', path: '/tmp/t/disk.img' }, terminationLog: '/tmp/t/log', metrics: { host: '127.0.0.1', port: 0 },
    });
    expect(c.architecture).toBeUndefined();
  });

  it('refuses a broken configuration with the workers\' CDI_ERR_WORKER_CONFIG (exit 64) and "invalid importer configuration"', () => {
    const broken = [
      { IMPORTER_SOURCE: 'http', FILESYSTEM_OVERHEAD: '1.5' },
      { IMPORTER_SOURCE: 'http', IMPORTER_IMAGE_SIZE: 'lots' },
      { IMPORTER_SOURCE: 'http', IMPORTER_EXTRA_HEADER_0: 'nocolon' },
      { IMPORTER_SOURCE: 'http', IMPORTER_CONTENTTYPE: 'iso' },
      { IMPORTER_SOURCE: 'registry', IMPORTER_PULL_METHOD: 'kubelet' },
    ];
    for (const env of broken) {
      let thrown: unknown;
      try {
        configFromEnv(env);
      } catch (err) {
        thrown = err;
      }
      expect(thrown, JSON.stringify(env)).toMatchObject({ code: 'CDI_ERR_WORKER_CONFIG', exitCode: 64, message: expect.stringMatching(/^invalid importer configuration: /) });
    }
  });

  it("uses CDI's pod paths without overrides", () => {
    const c = configFromEnv({ IMPORTER_SOURCE: 'none', IMPORTER_CONTENTTYPE: 'archive' });
    expect(c.target).toEqual({ kind: 'directory', path: '/data' });
    expect(c.terminationLog).toBe('/dev/termination-log');
    expect(c.metrics).toEqual({ host: '0.0.0.0', port: 8443 });
  });

  it('refuses unknown sources and bad values with coded errors', () => {
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'gcs' })).toThrow('Unknown data source: gcs');
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'http', FILESYSTEM_OVERHEAD: '1.5' })).toThrow(/is not a fraction/);
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'http', IMPORTER_IMAGE_SIZE: 'lots' })).toThrow(/is not a quantity/);
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'http', IMPORTER_EXTRA_HEADER_0: 'nocolon' })).toThrow(/Name: value/);
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'registry', IMPORTER_PULL_METHOD: 'kubelet' })).toThrow(/unknown IMPORTER_PULL_METHOD kubelet/);
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'http', IMPORTER_PULL_METHOD: 'node' })).toThrow(/IMPORTER_PULL_METHOD node needs IMPORTER_SOURCE registry, not http/);
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'http', PREALLOCATION: 'yes' })).toThrow('the PREALLOCATION environment variable is with a wrong value "yes"; should be "true" or "false"');
    expect(() => configFromEnv({ IMPORTER_SOURCE: 'http', CDI_LISTEN_PORT: 'http' })).toThrow('CDI_LISTEN_PORT "http" is not a TCP port');
  });

  it('reads a node-pulled registry image from the image volume: /cdi-image in a pod, CDI_IMAGE_VOLUME_DIR from the local node', () => {
    expect(configFromEnv({ IMPORTER_SOURCE: 'registry', IMPORTER_PULL_METHOD: 'node' }).imageDir).toBe('/cdi-image');
    expect(configFromEnv({ IMPORTER_SOURCE: 'registry', IMPORTER_PULL_METHOD: 'node', CDI_IMAGE_VOLUME_DIR: '/d/pods/x/volumes/v' }).imageDir).toBe('/d/pods/x/volumes/v');
    expect(configFromEnv({ IMPORTER_SOURCE: 'registry' }).imageDir).toBeUndefined();
  });

  it('appends secretExtraHeaders, one line per Secret value, after the plain ones, and never echoes a bad one', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'cdi-extraheaders-'));
    try {
      // Secret 0 laid out as the kubelet mounts it: keys are links into ..data.
      const first = path.join(root, '0');
      await mkdir(path.join(first, '..2026_11_30'), { recursive: true });
      await writeFile(path.join(first, '..2026_11_30', 'token'), 'X-Token: t0p-secret\n');
      await symlink('..2026_11_30', path.join(first, '..data'));
      await symlink('..data/token', path.join(first, 'token'));
      const second = path.join(root, '1');
      await mkdir(second);
      await writeFile(path.join(second, 'b'), 'X-B: 2');
      await writeFile(path.join(second, 'a'), 'X-A: 1');
      const env = { IMPORTER_SOURCE: 'http', IMPORTER_EXTRA_HEADER_0: 'X-Plain: yes', CDI_SECRET_EXTRA_HEADER_DIRS: JSON.stringify([first, second]) };
      expect(configFromEnv(env).extraHeaders).toEqual([['X-Plain', 'yes'], ['X-Token', 't0p-secret'], ['X-A', '1'], ['X-B', '2']]);

      await writeFile(path.join(second, 'c'), 'no-colon-s3cret');
      const bad = (() => {
        try {
          configFromEnv(env);
        } catch (err) {
          return String(err);
        }
        return '';
      })();
      expect(bad).toContain(`secret extra header ${path.join(second, 'c')} is not "Name: value"`);
      expect(bad).not.toContain('s3cret');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

describe("CDI's size rule", () => {
  it('applies the filesystem overhead and rounds down to whole MiB', () => {
    expect(usableSpace(16 * 2 ** 20, 0.055)).toBe(15 * 2 ** 20);
    expect(usableSpace(10 * 2 ** 30, 0)).toBe(10 * 2 ** 30);
    expect(usableSpace(2 ** 20 - 1, 0)).toBe(0);
  });
});
