import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import { CdiError } from '../../src/api/errors.ts';

const MiB = 1024 * 1024;

const suffixes: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes resource quantity (`10Gi`, `1500M`, `1e9`, `2147483648`) in bytes, rounded up. */
export function parseQuantity(text: string): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)(?:([eE][0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E))?$/.exec(text.trim());
  if (!match) throw new CdiError('CDI_ERR_USAGE', [`invalid quantity ${JSON.stringify(text)}`]);
  const value = match[2] ? Number(`${match[1]}${match[2]}`) : Number(match[1]) * suffixes[match[3] ?? '']!;
  if (!Number.isFinite(value)) throw new CdiError('CDI_ERR_USAGE', [`invalid quantity ${JSON.stringify(text)}`]);
  return Math.ceil(value);
}

/** CDI's GetUsableSpace: the filesystem overhead is taken off, then rounded down to 1 MiB. */
export function usableSpace(available: number, filesystemOverhead: number): number {
  return Math.floor(Math.ceil((1 - filesystemOverhead) * available) / MiB) * MiB;
}

/**
 * CDI's availableSpace for a filesystem volume: the free space where the target lives (plus what
 * an earlier attempt's file occupies, as it is replaced), capped by the requested image size.
 */
export async function availableSpace(target: string, isDirectory: boolean, imageSize: number | undefined): Promise<number> {
  const dir = isDirectory ? target : path.dirname(target);
  const fs = await statfs(dir);
  let free = fs.bavail * fs.bsize;
  if (!isDirectory) {
    const existing = await stat(target).catch(() => undefined);
    if (existing?.isFile()) free += existing.blocks * 512;
  }
  return imageSize === undefined ? free : Math.min(free, imageSize);
}
