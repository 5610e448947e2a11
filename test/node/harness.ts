import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig, StorageV1Api } from '@kubernetes/client-node';
import { silentLogger } from '../../src/api/logger.ts';
import { createLogger } from '../../src/log.ts';
import { startApiServer, type ApiServerHandle } from '../../src/apiserver/index.ts';
import { startNodeAgent, type NodeAgent } from '../../src/node/agent.ts';

/** A real embedded API server in a temp dir with a node agent on short back-off. */
export interface Harness {
  dataDir: string;
  api: ApiServerHandle;
  kc: KubeConfig;
  core: CoreV1Api;
  storage: StorageV1Api;
  agent: NodeAgent | undefined;
  startAgent(): Promise<void>;
  stopAgent(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const dataDir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cdi-node-'));
  const api = await startApiServer({ dataDir, logger: silentLogger });
  const kc = new KubeConfig();
  kc.loadFromFile(api.kubeconfigPath);
  const h: Harness = {
    dataDir,
    api,
    kc,
    core: kc.makeApiClient(CoreV1Api),
    storage: kc.makeApiClient(StorageV1Api),
    agent: undefined,
    async startAgent() {
      h.agent = await startNodeAgent({ kubeConfig: kc, dataDir, logger: process.env.NODE_AGENT_DEBUG ? createLogger('agent-test', 'debug') : silentLogger, backoff: { initialMs: 100, maxMs: 400 }, maxProbeIntervalMs: 100, shutdownGraceMs: 2000 });
    },
    async stopAgent() {
      await h.agent?.close();
      h.agent = undefined;
    },
    async close() {
      await h.stopAgent();
      await api.close();
      await fs.promises.rm(dataDir, { recursive: true, force: true });
    },
  };
  await h.startAgent();
  return h;
}

export { eventually } from '../support/eventually.ts';
