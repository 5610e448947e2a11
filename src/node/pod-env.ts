import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { LocalNodeName } from './layout.ts';

/** A secret's or configMap's keys with their bytes (secret `data` decoded from base64). */
export type ObjectData = Record<string, Buffer>;

export interface EnvSources {
  secrets: ReadonlyMap<string, ObjectData>;
  configMaps: ReadonlyMap<string, ObjectData>;
}

export type EnvResult = { ok: true; env: Record<string, string> } | { ok: false; message: string };

/**
 * A container's environment as the kubelet builds it: envFrom first, then env in order, with
 * $(VAR) references to earlier variables expanded and valueFrom resolved. Messages are the
 * kubelet's (`secret "x" not found`, `couldn't find key k in Secret ns/x`).
 */
export function resolveEnv(c: V1Container, pod: V1Pod, sources: EnvSources): EnvResult {
  const env: Record<string, string> = {};
  const ns = pod.metadata?.namespace ?? 'default';
  for (const from of c.envFrom ?? []) {
    const ref = from.secretRef ?? from.configMapRef;
    const kind = from.secretRef ? 'secret' : 'configmap';
    const data = from.secretRef ? sources.secrets.get(ref?.name ?? '') : sources.configMaps.get(ref?.name ?? '');
    if (!data) {
      if (ref?.optional) continue;
      return { ok: false, message: `${kind} "${ref?.name}" not found` };
    }
    for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ''}${k}`] = v.toString('utf8');
  }
  for (const e of c.env ?? []) {
    if (e.valueFrom === undefined) {
      env[e.name] = expandVars(e.value ?? '', env);
      continue;
    }
    const { secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef } = e.valueFrom;
    const keyRef = secretKeyRef ?? configMapKeyRef;
    if (keyRef) {
      const isSecret = secretKeyRef !== undefined;
      const data = isSecret ? sources.secrets.get(keyRef.name ?? '') : sources.configMaps.get(keyRef.name ?? '');
      const value = data?.[keyRef.key];
      if (value === undefined) {
        if (keyRef.optional) continue;
        if (!data) return { ok: false, message: `${isSecret ? 'secret' : 'configmap'} "${keyRef.name}" not found` };
        return { ok: false, message: `couldn't find key ${keyRef.key} in ${isSecret ? 'Secret' : 'ConfigMap'} ${ns}/${keyRef.name}` };
      }
      env[e.name] = value.toString('utf8');
    } else if (fieldRef) {
      const value = fieldValue(pod, fieldRef.fieldPath);
      if (value === undefined) return { ok: false, message: `unsupported fieldPath: ${fieldRef.fieldPath}` };
      env[e.name] = value;
    } else if (resourceFieldRef) {
      const res = resourceFieldRef.resource;
      const [kindOf, name] = res.split('.') as ['limits' | 'requests', string];
      const value = c.resources?.[kindOf]?.[name];
      env[e.name] = value === undefined ? '' : String(value);
    }
  }
  return { ok: true, env };
}

function fieldValue(pod: V1Pod, fieldPath: string): string | undefined {
  const label = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (label) return (label[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations)?.[label[2] ?? ''] ?? '';
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? 'default';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? LocalNodeName;
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP':
    case 'status.hostIP':
      return '127.0.0.1';
    case 'status.podIPs':
    case 'status.hostIPs':
      return '127.0.0.1';
    default:
      return undefined;
  }
}

/** Kubernetes' $(VAR) expansion; $$ escapes, unknown references stay as written. */
export function expandVars(value: string, env: Readonly<Record<string, string>>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name: string | undefined) => {
    if (m === '$$') return '$';
    return name !== undefined && env[name] !== undefined ? env[name] : m;
  });
}
