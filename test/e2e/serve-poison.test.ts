import { readdirSync, readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, type CurlTarget } from '../apiserver/curl.ts';
import { startServe, type Serve } from '../support/serve.ts';

/**
 * The poison writes of issue 20 against a real `cdi serve`: refused as kube-apiserver refuses
 * them, nothing committed, and `cdi serve` stays up and restarts cleanly on the same data dir.
 */
const pods = '/api/v1/namespaces/default/pods';
const pod = (metadata: Record<string, unknown>) =>
  JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers: [{ name: 'c', image: 'busybox' }] } });

function processesNaming(dir: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

function targetOf(s: Serve): CurlTarget {
  const kc = new KubeConfig();
  kc.loadFromFile(s.kubeconfig);
  return { url: kc.getCurrentCluster()!.server, token: kc.getCurrentUser()!.token! };
}

describe('cdi serve under poison writes', () => {
  let s: Serve;
  beforeAll(async () => {
    s = await startServe();
  });
  afterAll(async () => {
    const dataDir = s?.dataDir;
    await s?.stop();
    // kill -9 can orphan the first run's upload proxy (issue 20, item 6): end what this test started.
    if (dataDir) for (const pid of processesNaming(dataDir)) process.kill(pid, 'SIGKILL');
  });

  it('refuses malformed ownerReferences and a doubling patch, then restarts cleanly after kill -9', async () => {
    const api = targetOf(s);
    for (const ownerReferences of ['x', { uid: 'u' }]) {
      expect((await curl(api, 'POST', pods, pod({ name: 'poison', ownerReferences }))).code).toBe(400);
    }
    expect((await curl(api, 'POST', pods, pod({ name: 'poison', ownerReferences: [null] }))).code).toBe(422);
    expect((await curl(api, 'POST', '/api/v1/namespaces/default/configmaps', JSON.stringify({ metadata: { name: 'cm' }, data: { a: 'x'.repeat(800) } }))).code).toBe(201);
    const bomb = Array.from({ length: 19 }, (_, i) => ({ op: 'copy', from: '/data', path: `/data/k${i}` }));
    expect((await curl(api, 'PATCH', '/api/v1/namespaces/default/configmaps/cm', JSON.stringify(bomb), 'application/json-patch+json')).code).toBe(422);
    expect((await curl(api, 'PATCH', '/api/v1/namespaces/default/configmaps/cm', '{"metadata":{"ownerReferences":"x"}}', 'application/merge-patch+json')).code).toBe(400);
    expect((await curl(api, 'GET', `${pods}/poison`)).code).toBe(404);

    await s.kill9();
    await s.restart();
    const again = targetOf(s);
    expect((await curl(again, 'GET', '/api/v1/namespaces/default/configmaps/cm')).json()).toMatchObject({ data: { a: 'x'.repeat(800) } });
    expect(s.stderr()).not.toMatch(/is not a function|CDI_ERR_STORED_OBJECT/);
  });
});
