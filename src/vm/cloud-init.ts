import { buildIso, type IsoFile } from './iso9660.ts';

/**
 * The cloud-init disks KubeVirt attaches: NoCloud (`cidata`: user-data, meta-data,
 * network-config) and ConfigDrive (`config-2`: openstack/latest/user_data, meta_data.json,
 * network_data.json).
 */
export interface CloudInitData {
  kind: 'noCloud' | 'configDrive';
  instanceId: string;
  userData: string;
  networkData?: string;
}

export function buildCloudInitIso(d: CloudInitData): Buffer {
  const files: IsoFile[] = [];
  if (d.kind === 'noCloud') {
    files.push({ path: 'user-data', data: Buffer.from(d.userData) });
    files.push({ path: 'meta-data', data: Buffer.from(`instance-id: ${d.instanceId}\n`) });
    if (d.networkData !== undefined) files.push({ path: 'network-config', data: Buffer.from(d.networkData) });
    return buildIso('cidata', files);
  }
  files.push({ path: 'openstack/latest/user_data', data: Buffer.from(d.userData) });
  files.push({ path: 'openstack/latest/meta_data.json', data: Buffer.from(JSON.stringify({ instance_id: d.instanceId, uuid: d.instanceId })) });
  if (d.networkData !== undefined) files.push({ path: 'openstack/latest/network_data.json', data: Buffer.from(d.networkData) });
  return buildIso('config-2', files);
}
