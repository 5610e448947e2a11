import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const cdi = path.join(root, 'bin/cdi');
let dataDir: string;
let serve: ChildProcess;
let stderr = '';

function startServe(dir: string): ChildProcess {
  return spawn(cdi, ['serve', '--data-dir', dir, '--port', '0', '--upload-proxy-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function exitOf(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((resolve) => p.once('exit', (code) => resolve(code)));
}

/** Processes whose working directory is inside `dir`: the pods' child processes run there. */
function processesUnder(dir: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readlinkSync(`/proc/${entry}/cwd`).startsWith(dir)) out.push(Number(entry));
    } catch {
      // gone or not ours
    }
  }
  return out;
}

beforeAll(async () => {
  dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cdi-serve-e2e-'));
  serve = startServe(dataDir);
  serve.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 150_000;
  while (!stderr.includes('cdi serve is ready')) {
    if (serve.exitCode !== null || Date.now() > deadline) throw new Error(`cdi serve did not become ready:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  if (serve.exitCode === null) {
    serve.kill('SIGKILL');
    await exitOf(serve);
  }
  await fs.promises.rm(dataDir, { recursive: true, force: true });
});

describe('cdi serve', () => {
  it('tells the user where the kubeconfig is and how to use it', () => {
    expect(stderr).toContain(`export KUBECONFIG=${dataDir}/kubeconfig`);
    expect(fs.statSync(path.join(dataDir, 'kubeconfig')).mode & 0o777).toBe(0o600);
    // As root the workers run as their pods' users and must pass through (search, not list) to their volumes.
    expect(fs.statSync(dataDir).mode & 0o777).toBe(process.getuid?.() === 0 ? 0o711 : 0o700);
    expect(fs.statSync(path.join(dataDir, 'apiserver.db')).mode & 0o007).toBe(0);
  });

  it('runs with the memory settings of ADR 0015 (young generation, heap growth, malloc)', () => {
    expect(fs.readFileSync(`/proc/${serve.pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['--max-semi-space-size=8', '--heap-growing-percent=50']));
    expect(fs.readFileSync(`/proc/${serve.pid}/environ`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=131072']));
  });

  it('answers client-node through the kubeconfig it wrote, with the node agent binding claims', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(path.join(dataDir, 'kubeconfig'));
    const core = kc.makeApiClient(CoreV1Api);
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain('default');

    await core.createNamespacedPersistentVolumeClaim({
      namespace: 'default',
      body: { metadata: { name: 'smoke' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } },
    });
    for (let i = 0; i < 200; i++) {
      const c = await core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'smoke' });
      if (c.status?.phase === 'Bound') return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('claim never bound');
  });

  it('runs the upload proxy with a certificate of the data dir CA and publishes it in the CDIConfig', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(path.join(dataDir, 'kubeconfig'));
    const custom = kc.makeApiClient(CustomObjectsApi);
    const config = (await custom.getClusterCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'cdiconfigs', name: 'config' })) as {
      status?: { uploadProxyURL?: string; uploadProxyCA?: string };
    };
    const url = config.status?.uploadProxyURL ?? '';
    expect(stderr).toContain(`upload proxy: ${url}`);
    expect(config.status?.uploadProxyCA).toBe(fs.readFileSync(path.join(dataDir, 'pki/ca.crt'), 'utf8'));
    const body = await new Promise<string>((resolve, reject) => {
      https.get(`${url}/healthz`, { ca: config.status?.uploadProxyCA }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve(`${res.statusCode} ${text}`));
      }).on('error', reject);
    });
    expect(body).toBe('200 OK');
  });

  it('runs an upload DataVolume\'s server pod as a child process until UploadReady', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(path.join(dataDir, 'kubeconfig'));
    const custom = kc.makeApiClient(CustomObjectsApi);
    const dv = { group: 'cdi.kubevirt.io', version: 'v1beta1', namespace: 'default', plural: 'datavolumes' };
    await custom.createNamespacedCustomObject({
      ...dv,
      body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'up' }, spec: { source: { upload: {} }, storage: { resources: { requests: { storage: '8Mi' } } } } },
    });
    let phase: string | undefined;
    for (let i = 0; i < 600 && phase !== 'UploadReady'; i++) {
      const obj = (await custom.getNamespacedCustomObject({ ...dv, name: 'up' })) as { status?: { phase?: string } };
      phase = obj.status?.phase;
      if (phase !== 'UploadReady') await new Promise((r) => setTimeout(r, 100));
    }
    expect(phase).toBe('UploadReady');
    expect(processesUnder(dataDir).length).toBeGreaterThan(0);
  });

  it('refuses a second cdi serve on the same data dir', async () => {
    const second = startServe(dataDir);
    let err = '';
    second.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    expect(await exitOf(second)).not.toBe(0);
    expect(err).toContain('CDI_ERR_SERVE');
    expect(err).toContain(`another cdi serve (pid ${serve.pid}) is using ${dataDir}`);
  });

  it('stops everything it started on SIGTERM', async () => {
    serve.kill('SIGTERM');
    expect(await exitOf(serve)).toBe(0);
    expect(processesUnder(dataDir)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'serve.pid'))).toBe(false);
  });
});
