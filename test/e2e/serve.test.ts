import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { exitOf, spawnServe, startServe, type Serve } from '../support/serve.ts';

let serve: Serve;
let dataDir: string;

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
  serve = await startServe({ logLevel: 'info' });
  dataDir = serve.dataDir;
});

afterAll(async () => {
  await serve.stop();
});

describe('cdi serve', () => {
  it('tells the user where the kubeconfig is and how to use it', () => {
    expect(serve.stderr()).toContain(`export KUBECONFIG=${dataDir}/kubeconfig`);
    expect(fs.statSync(path.join(dataDir, 'kubeconfig')).mode & 0o777).toBe(0o600);
    // As root the workers run as their pods' users and must pass through (search, not list) to their volumes.
    expect(fs.statSync(dataDir).mode & 0o777).toBe(process.getuid?.() === 0 ? 0o711 : 0o700);
    expect(fs.statSync(path.join(dataDir, 'apiserver.db')).mode & 0o007).toBe(0);
  });

  it('runs with the memory settings of ADR 0015 (young generation, heap growth, malloc)', () => {
    expect(fs.readFileSync(`/proc/${serve.child.pid}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['--max-semi-space-size=8', '--heap-growing-percent=50']));
    expect(fs.readFileSync(`/proc/${serve.child.pid}/environ`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['MALLOC_ARENA_MAX=2', 'MALLOC_MMAP_THRESHOLD_=131072']));
  });

  it('answers client-node through the kubeconfig it wrote, with the node agent binding claims', async () => {
    const { core } = serve;
    const namespaces = await core.listNamespace();
    expect(namespaces.items.map((n) => n.metadata?.name)).toContain('default');

    await core.createNamespacedPersistentVolumeClaim({
      namespace: 'default',
      body: { metadata: { name: 'smoke' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } } } },
    });
    await eventually(async () => (await core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: 'smoke' })).status?.phase === 'Bound', 'claim smoke Bound');
  });

  it('runs the upload proxy with a certificate of the data dir CA and publishes it in the CDIConfig', async () => {
    const { custom } = serve;
    const config = (await custom.getClusterCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'cdiconfigs', name: 'config' })) as {
      status?: { uploadProxyURL?: string; uploadProxyCA?: string };
    };
    const url = config.status?.uploadProxyURL ?? '';
    expect(serve.stderr()).toContain(`upload proxy: ${url}`);
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
    const { custom } = serve;
    const dv = { group: 'cdi.kubevirt.io', version: 'v1beta1', namespace: 'default', plural: 'datavolumes' };
    await custom.createNamespacedCustomObject({
      ...dv,
      body: { apiVersion: 'cdi.kubevirt.io/v1beta1', kind: 'DataVolume', metadata: { name: 'up' }, spec: { source: { upload: {} }, storage: { resources: { requests: { storage: '8Mi' } } } } },
    });
    await eventually(async () => ((await custom.getNamespacedCustomObject({ ...dv, name: 'up' })) as { status?: { phase?: string } }).status?.phase === 'UploadReady', 'DataVolume up UploadReady');
    expect(processesUnder(dataDir).length).toBeGreaterThan(0);
  });

  it('refuses a second cdi serve on the same data dir', async () => {
    const second = spawnServe(dataDir);
    let err = '';
    second.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    expect(await exitOf(second)).not.toBe(0);
    expect(err).toContain('CDI_ERR_SERVE');
    expect(err).toContain(`another cdi serve (pid ${serve.child.pid}) is using ${dataDir}`);
  });

  it('stops everything it started on SIGTERM', async () => {
    serve.child.kill('SIGTERM');
    expect(await exitOf(serve.child)).toBe(0);
    expect(processesUnder(dataDir)).toEqual([]);
    expect(fs.existsSync(path.join(dataDir, 'serve.pid'))).toBe(false);
  });
});
