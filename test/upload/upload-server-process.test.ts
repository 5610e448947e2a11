/**
 * uploadserver/main.ts as the node agent or a pod runs it: CDI's env contract in, the
 * termination message and exit code out.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UploadClientName } from '../../src/api/annotations.ts';
import { reportedPort } from '../support/ports.ts';
import { curl, sha256File, uploadCerts, uploadFixtures, type UploadCerts, type UploadFixtures } from './harness.ts';

const entry = path.resolve(import.meta.dirname, '../../uploadserver/main.ts');

describe('upload server process', () => {
  let certs: UploadCerts;
  let fx: UploadFixtures;
  let dir: string;
  beforeAll(async () => {
    [certs, fx] = await Promise.all([uploadCerts(), uploadFixtures()]);
    dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-upload-proc-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function start(name: string, extraEnv: Record<string, string>) {
    const volume = path.join(dir, name);
    await import('node:fs/promises').then((fs) => fs.mkdir(volume, { recursive: true }));
    const child = spawn(process.execPath, [entry], {
      env: {
        ...process.env,
        LOG_LEVEL: 'info',
        // PEM text, as CDI passes it; file paths work too.
        TLS_KEY: certs.serverKeyPem,
        TLS_CERT: certs.serverCert,
        CLIENT_CERT: certs.caCert,
        CLIENT_NAME: UploadClientName,
        CDI_LISTEN_PORT: '0',
        CDI_TARGET_PATH: path.join(volume, 'disk.img'),
        CDI_TERMINATION_LOG: path.join(volume, 'termination-log'),
        CDI_SCRATCH_DIR: volume,
        ...extraEnv,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const port = reportedPort(child.stdout, 'upload server listening');
    port.catch(() => {}); // a run that fails at start never reports one
    return { url: async () => `https://127.0.0.1:${await port}`, volume, child, exit, output: () => output };
  }

  it('writes the volume, then "Upload Complete" as the termination message, and exits 0', async () => {
    const s = await start('ok', { UPLOAD_IMAGE_SIZE: '48Mi', FILESYSTEM_OVERHEAD: '0', PREALLOCATION: 'false', CONTENT_TYPE: 'kubevirt' });
    const key = certs.proxyClientCert.replace(/\.crt$/, '.key');
    const res = await curl(['--cert', certs.proxyClientCert, '--key', key, '-X', 'POST', '-T', fx.qcow2, `${await s.url()}/v1beta1/upload`]);
    expect(res.status).toBe(200);
    expect(await s.exit).toBe(0);
    expect(JSON.parse(await readFile(path.join(s.volume, 'termination-log'), 'utf8'))).toEqual({ message: 'Upload Complete', preallocationApplied: false });
    expect(await sha256File(path.join(s.volume, 'disk.img'))).toBe(fx.qcow2RawSha);
  });

  it('exits 0 with "Deadline Passed" when the deadline comes while idle', async () => {
    const s = await start('deadline', { DEADLINE: new Date(Date.now() + 1500).toISOString() });
    expect(await s.exit).toBe(0);
    expect(JSON.parse(await readFile(path.join(s.volume, 'termination-log'), 'utf8'))).toEqual({ deadlinePassed: true, message: 'Deadline Passed' });
  });

  it('refuses a broken env contract with a coded error', async () => {
    const s = await start('bad', { CONTENT_TYPE: 'iso' });
    expect(await s.exit).toBe(64);
    expect(s.output()).toContain('CONTENT_TYPE must be kubevirt or archive, not iso');
    expect(s.output()).toContain('CDI_ERR_WORKER_CONFIG');
  });
});
