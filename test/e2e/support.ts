import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { DataVolume } from '../../src/api/datavolume.ts';
import { eventually } from '../support/eventually.ts';
import { qemuImg } from '../support/qemu.ts';
import type { Serve } from '../support/serve.ts';

export const dvRef = { group: 'cdi.kubevirt.io', version: 'v1beta1', plural: 'datavolumes' };

export async function getDv(s: Serve, name: string, namespace = 'default'): Promise<DataVolume> {
  return (await s.custom.getNamespacedCustomObject({ ...dvRef, namespace, name })) as DataVolume;
}

export async function waitPhase(s: Serve, name: string, phase: string, timeoutMs = 60_000): Promise<DataVolume> {
  let seen = '';
  return eventually(
    async () => {
      const dv = await getDv(s, name);
      seen = `${dv.status?.phase} ${JSON.stringify(dv.status?.conditions?.find((c) => c.type === 'Running'))}`;
      if (phase !== 'Failed' && dv.status?.phase === 'Failed') throw new Error(`${name} Failed: ${seen}`);
      return dv.status?.phase === phase ? dv : undefined;
    },
    `${name} to reach ${phase} (now ${seen})`,
    timeoutMs,
  );
}

/** The volume's image file: `disk.img` in the bound volume's directory under the data dir. */
export async function volumeImage(s: Serve, claim: string, namespace = 'default'): Promise<string> {
  const pvc = await s.core.readNamespacedPersistentVolumeClaim({ name: claim, namespace });
  const volume = (pvc.spec?.volumeName ?? '').replace(/^pvc-/, '');
  return path.join(s.dataDir, 'volumes', namespace, volume, 'disk.img');
}

/** sha256 of the first `length` bytes, and whether every byte after them is zero. */
export async function digestPrefix(file: string, length: number): Promise<{ sha256: string; restZero: boolean; size: number }> {
  const hash = createHash('sha256');
  let restZero = true;
  let offset = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const head = Math.max(0, Math.min(chunk.length, length - offset));
    if (head > 0) hash.update(chunk.subarray(0, head));
    if (head < chunk.length && !chunk.subarray(head).every((b) => b === 0)) restZero = false;
    offset += chunk.length;
  }
  return { sha256: hash.digest('hex'), restZero, size: (await stat(file)).size };
}

export async function virtualSize(image: string): Promise<number> {
  return (JSON.parse(await qemuImg('info', '--output', 'json', image)) as { 'virtual-size': number })['virtual-size'];
}

export function dvYaml(name: string, source: string, size = '64Mi', extra = ''): string {
  return `apiVersion: cdi.kubevirt.io/v1beta1
kind: DataVolume
metadata:
  name: ${name}
spec:
  source:
${source
  .split('\n')
  .map((l) => `    ${l}`)
  .join('\n')}
  storage:
    resources:
      requests:
        storage: ${size}
${extra}`;
}
