import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ServiceAccountDir, ownNamespace, selectKubeConfig } from './kubeconfig.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdi-kubeconfig-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfigFile(name: string, server: string): string {
  const file = join(dir, name);
  writeFileSync(
    file,
    `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}" } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: ctx, context: { cluster: c, user: u } }]
current-context: ctx
`,
  );
  return file;
}

const saRoot = join(dir, 'sa');
mkdirSync(join(saRoot, ServiceAccountDir), { recursive: true });
writeFileSync(join(saRoot, ServiceAccountDir, 'token'), 'sa-token');
writeFileSync(join(saRoot, ServiceAccountDir, 'ca.crt'), '');
writeFileSync(join(saRoot, ServiceAccountDir, 'namespace'), 'cdi-system\n');

describe('kubeconfig selection', () => {
  const flagFile = kubeconfigFile('flag', 'https://flag.example:6443');
  const envFile = kubeconfigFile('env', 'https://env.example:6443');

  it('prefers --kubeconfig over everything', () => {
    const { kubeConfig, source } = selectKubeConfig({ kubeconfig: flagFile, env: { KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBECONFIG: envFile } });
    expect(source).toBe('flag');
    expect(kubeConfig.getCurrentCluster()?.server).toBe('https://flag.example:6443');
  });

  it('uses the service account in a pod', () => {
    const { kubeConfig, source } = selectKubeConfig({
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443', KUBECONFIG: envFile },
      serviceAccountRoot: saRoot,
    });
    expect(source).toBe('in-cluster');
    expect(kubeConfig.getCurrentCluster()?.server).toBe('https://[fd00::1]:443');
    expect(ownNamespace({}, saRoot)).toBe('cdi-system');
    expect(ownNamespace({ POD_NAMESPACE: 'from-downward-api' }, saRoot)).toBe('from-downward-api');
  });

  it('falls back to $KUBECONFIG outside a cluster', () => {
    const { kubeConfig, source } = selectKubeConfig({ env: { KUBECONFIG: envFile } });
    expect(source).toBe('KUBECONFIG');
    expect(kubeConfig.getCurrentCluster()?.server).toBe('https://env.example:6443');
  });

  it('fails with a coded error for a missing file', () => {
    expect(() => selectKubeConfig({ kubeconfig: join(dir, 'nope') })).toThrow(expect.objectContaining({ code: 'CDI_ERR_KUBECONFIG' }));
  });
});
