import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { reportedPort } from '../support/ports.ts';

/**
 * The host-assisted clone wire path with the real processes: importer/cloner.ts streams a sparse
 * raw volume over mutual TLS into uploadserver/main.ts, which writes the target volume.
 */
const root = path.resolve(import.meta.dirname, '../..');
const serverEntry = path.join(root, 'uploadserver/main.ts');
const MiB = 1 << 20;

const children = new Set<ChildProcess>();

function run(entry: string, env: Record<string, string>): { child: ChildProcess; exited: Promise<{ code: number | null; stderr: string }> } {
  const child = spawn(process.execPath, [entry], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  return { child, exited: new Promise((resolve) => {
    let stderr = '';
    child.stdout!.resume();
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => {
      children.delete(child);
      resolve({ code, stderr });
    });
  }) };
}

describe('cloner → upload server', () => {
  let dir: string;
  const now = new Date();
  const later = new Date(now.getTime() + 3_600_000);
  const serverCa = issueCertificate({ commonName: 'cdi-uploadserver-signer', usage: 'ca', notBefore: now, notAfter: later });
  const clientCa = issueCertificate({ commonName: 'cdi-uploadserver-client-signer', usage: 'ca', notBefore: now, notAfter: later });
  const serverCert = issueCertificate({ commonName: 'cdi-upload-tgt.ns.svc', usage: 'server', hostnames: ['cdi-upload-tgt.ns.svc', '127.0.0.1'], notBefore: now, notAfter: later }, serverCa);
  const cn = 'src-ns/src-ns-tgt-ns/tgt';

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'cdi-cloner-'));
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  async function clone(name: string, clientCn: string, sourceBytes: number) {
    const source = path.join(dir, `${name}-source.img`);
    const handle = await open(source, 'w');
    await handle.write(randomBytes(MiB), 0, MiB, 0);
    await handle.write(randomBytes(MiB), 0, MiB, 5 * MiB);
    await handle.truncate(sourceBytes);
    await handle.close();
    const target = path.join(dir, `${name}-target`, 'disk.img');
    await import('node:fs/promises').then((fs) => fs.mkdir(path.dirname(target), { recursive: true }));
    const client = issueCertificate({ commonName: clientCn, usage: 'client', notBefore: now, notAfter: later }, clientCa);
    const server = run(serverEntry, {
      TLS_KEY: serverCert.keyPem,
      TLS_CERT: serverCert.certPem,
      CLIENT_CERT: clientCa.certPem,
      CLIENT_NAME: cn,
      UPLOAD_IMAGE_SIZE: String(16 * MiB),
      FILESYSTEM_OVERHEAD: '0',
      CONTENT_TYPE: 'kubevirt',
      CDI_TARGET_PATH: target,
      CDI_LISTEN_PORT: '0',
      CDI_TERMINATION_LOG: path.join(dir, `${name}-server.log`),
      CDI_SCRATCH_DIR: dir,
      LOG_LEVEL: 'info',
    });
    const port = await reportedPort(server.child.stdout!, 'upload server listening');
    const cloner = await run(path.join(root, 'importer/cloner.ts'), {
      SOURCE_PATH: source,
      UPLOAD_URL: `https://127.0.0.1:${port}/v1beta1/upload`,
      UPLOAD_SERVER_NAME: 'cdi-upload-tgt.ns.svc',
      CLIENT_KEY: client.keyPem,
      CLIENT_CERT: client.certPem,
      SERVER_CA_CERT: serverCa.certPem,
      OWNER_UID: 'uid',
      CDI_LISTEN_PORT: '0',
      CDI_TERMINATION_LOG: path.join(dir, `${name}-cloner.log`),
    }).exited;
    return { source, target, server, cloner, clonerLog: path.join(dir, `${name}-cloner.log`) };
  }

  it('copies the volume byte for byte and both sides finish', async () => {
    const r = await clone('ok', cn, 8 * MiB);
    expect(r.cloner.code, r.cloner.stderr).toBe(0);
    expect((await r.server.exited).code).toBe(0);
    expect(JSON.parse(await readFile(r.clonerLog, 'utf8'))).toEqual({ message: 'Clone Complete' });
    const [target, source] = await Promise.all([readFile(r.target), readFile(r.source)]);
    expect(target.length).toBeGreaterThanOrEqual(source.length);
    expect(target.subarray(0, source.length).equals(source)).toBe(true);
    expect(target.subarray(source.length).every((b) => b === 0)).toBe(true);
  });

  it('is refused by a server that expects another clone source', async () => {
    const r = await clone('wrongcn', 'someone/else-tgt-ns/tgt', 2 * MiB);
    expect(r.cloner.code).toBe(1);
    expect(await readFile(r.clonerLog, 'utf8')).toMatch(/^Unexpected status code 401/);
    // The refusal does not end the server: it is still waiting for its clone when we stop it,
    // so it exits as interrupted (1), not complete (0).
    expect(r.server.child.exitCode).toBeNull();
    r.server.child.kill('SIGTERM');
    expect((await r.server.exited).code).toBe(1);
  });
});
