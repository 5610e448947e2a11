import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { silentLogger } from '../../src/api/logger.ts';
import { startApiServer, type ApiServerHandle, type ApiServerOptions } from '../../src/apiserver/index.ts';

/** An in-process API server on an ephemeral port in a fresh data dir, with client-node clients. */
export interface Harness {
  dataDir: string;
  server: ApiServerHandle;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  stop(): Promise<void>;
}

export async function startHarness(opts: Partial<ApiServerOptions> = {}): Promise<Harness> {
  const dataDir = opts.dataDir ?? (await mkdtemp(path.join(tmpdir(), 'cdi-apiserver-')));
  const server = await startApiServer({ logger: silentLogger, ...opts, dataDir });
  const kc = new KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  return {
    dataDir,
    server,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom: kc.makeApiClient(CustomObjectsApi),
    stop: async () => {
      await server.close();
      if (!opts.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export const dvGroup = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes' } as const;

export function dataVolume(name: string, labels: Record<string, string> = {}): Record<string, unknown> {
  return {
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name, labels },
    spec: { source: { blank: {} }, storage: { resources: { requests: { storage: '1Gi' } } } },
  };
}

/** The HTTP status of a rejected client-node call (ApiException.code). */
export async function statusOf(p: Promise<unknown>): Promise<{ code: number; body: Record<string, unknown> }> {
  try {
    await p;
  } catch (err) {
    const e = err as { code?: number; body?: unknown };
    const body = typeof e.body === 'string' ? (JSON.parse(e.body) as Record<string, unknown>) : ((e.body ?? {}) as Record<string, unknown>);
    return { code: e.code ?? -1, body };
  }
  throw new Error('expected the request to fail');
}

export { eventually } from '../support/eventually.ts';

/** The API server as its own process (server-process.ts), for kill -9 tests and RSS readings. */
export interface ServerProcess {
  child: ChildProcess;
  url: string;
  token: string;
  custom: CustomObjectsApi;
  core: CoreV1Api;
}

export async function startServerProcess(dataDir: string): Promise<ServerProcess> {
  const entry = path.join(import.meta.dirname, 'server-process.ts');
  const child = spawn(process.execPath, [entry, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = (await once(createInterface(child.stdout!), 'line')) as [string];
  const { url, token, kubeconfigPath } = JSON.parse(line) as { url: string; token: string; kubeconfigPath: string };
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return { child, url, token, custom: kc.makeApiClient(CustomObjectsApi), core: kc.makeApiClient(CoreV1Api) };
}

/** Resident memory of a process in bytes, from /proc. */
export async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** One request with a body as given (protobuf, malformed JSON, ...) and its JSON reply. */
export function rawRequest(h: Harness, method: string, urlPath: string, body: Buffer | string, contentType: string): Promise<{ code: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${h.server.url}${urlPath}`,
      { method, ca: h.server.caPem, headers: { authorization: `Bearer ${h.server.token}`, 'content-type': contentType, accept: 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
