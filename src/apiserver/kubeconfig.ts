import { rename, writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

/** A kubeconfig for the embedded server that kubectl, client-node and `cdi --kubeconfig` accept. */
export function renderKubeconfig(server: string, caPem: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'cdi', cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') } }],
    users: [{ name: 'cdi-admin', user: { token } }],
    contexts: [{ name: 'cdi', context: { cluster: 'cdi', user: 'cdi-admin', namespace: 'default' } }],
    'current-context': 'cdi',
    preferences: {},
  });
}

/** Written whole or not at all (temp file + rename), mode 0600: it carries the bearer token. */
export async function writeKubeconfig(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}
