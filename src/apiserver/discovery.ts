import { kinds, type KindInfo } from './kinds.ts';

/**
 * Discovery documents (/api, /apis, group and group-version resource lists) and /version, all
 * derived from the kinds table. kubectl builds its REST mapping and short names from these.
 */
const verbsFor = (info: KindInfo): string[] =>
  info.createOnly ? ['create'] : ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function groups(): Map<string, string> {
  const out = new Map<string, string>();
  for (const k of kinds) if (k.group !== '') out.set(k.group, k.version);
  return out;
}

export function coreVersions(serverAddress: string): Record<string, unknown> {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupDoc(name: string, version: string): Record<string, unknown> {
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

export function groupList(): Record<string, unknown> {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groups()].map(([name, version]) => groupDoc(name, version)) };
}

export function group(name: string): Record<string, unknown> | undefined {
  const version = groups().get(name);
  return version ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(name, version) } : undefined;
}

export function resourceList(groupName: string, version: string): Record<string, unknown> | undefined {
  const served = kinds.filter((k) => k.group === groupName && k.version === version);
  if (served.length === 0) return undefined;
  const resources = served.flatMap((k) => [
    {
      name: k.plural,
      singularName: k.singular,
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: verbsFor(k),
      ...(k.shortNames.length ? { shortNames: k.shortNames } : {}),
      ...(k.categories ? { categories: k.categories } : {}),
    },
    ...k.subresources.map((sub) => ({
      name: `${k.plural}/${sub}`,
      singularName: '',
      namespaced: k.namespaced,
      kind: k.kind,
      verbs: sub === 'log' ? ['get'] : sub === 'token' ? ['create'] : ['get', 'patch', 'update'],
    })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupName ? `${groupName}/${version}` : version, resources };
}

export const versionInfo = {
  major: '1',
  minor: '20',
  gitVersion: 'v1.20.2-cdi',
  gitCommit: '',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: `node${process.versions.node}`,
  compiler: 'node',
  platform: `${process.platform}/${process.arch}`,
};
