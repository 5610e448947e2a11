import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { CdiError } from '../api/errors.ts';

/**
 * Which API server a cluster-mode process talks to, in client-go's order: an explicit
 * `--kubeconfig`, else the pod's service account when running in a cluster
 * (KUBERNETES_SERVICE_HOST set by the kubelet), else $KUBECONFIG, else ~/.kube/config.
 */

export type KubeConfigSource = 'flag' | 'in-cluster' | 'KUBECONFIG' | 'default';

export const ServiceAccountDir = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfigSelection {
  kubeConfig: KubeConfig;
  source: KubeConfigSource;
}

export interface SelectOptions {
  kubeconfig?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Prefix for the service account files; tests point it at a temp dir. */
  serviceAccountRoot?: string;
}

export function selectKubeConfig(opts: SelectOptions = {}): KubeConfigSelection {
  const env = opts.env ?? process.env;
  const kubeConfig = new KubeConfig();
  let source: KubeConfigSource;
  try {
    if (opts.kubeconfig) {
      kubeConfig.loadFromFile(opts.kubeconfig);
      source = 'flag';
    } else if (env.KUBERNETES_SERVICE_HOST) {
      withEnv(env, () => kubeConfig.loadFromCluster(opts.serviceAccountRoot ?? ''));
      source = 'in-cluster';
    } else if (env.KUBECONFIG) {
      for (const file of env.KUBECONFIG.split(':').filter(Boolean)) {
        const next = new KubeConfig();
        next.loadFromFile(file);
        kubeConfig.mergeConfig(next);
        if (!kubeConfig.getCurrentContext()) kubeConfig.setCurrentContext(next.getCurrentContext());
      }
      source = 'KUBECONFIG';
    } else {
      kubeConfig.loadFromDefault();
      source = 'default';
    }
  } catch (err) {
    throw new CdiError('CDI_ERR_KUBECONFIG', [err instanceof Error ? err.message : String(err)], { cause: err });
  }
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster?.server) throw new CdiError('CDI_ERR_KUBECONFIG', [`no current cluster (from ${source})`]);
  return { kubeConfig, source };
}

/** loadFromCluster reads process.env; run it against the env the caller chose. */
function withEnv(env: NodeJS.ProcessEnv, fn: () => void): void {
  if (env === process.env) return fn();
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  process.env.KUBERNETES_SERVICE_HOST = env.KUBERNETES_SERVICE_HOST;
  process.env.KUBERNETES_SERVICE_PORT = env.KUBERNETES_SERVICE_PORT ?? '443';
  try {
    fn();
  } finally {
    for (const [key, value] of [
      ['KUBERNETES_SERVICE_HOST', saved.host],
      ['KUBERNETES_SERVICE_PORT', saved.port],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  }
}

/** The namespace this pod runs in: the downward API's POD_NAMESPACE, else the service account's. */
export function ownNamespace(env: NodeJS.ProcessEnv = process.env, serviceAccountRoot = ''): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync(`${serviceAccountRoot}${ServiceAccountDir}/namespace`, 'utf8').trim() || 'cdi';
  } catch {
    return 'cdi';
  }
}
