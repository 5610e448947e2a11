import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dataVolume, dvGroup, startServerProcess } from './harness.ts';

describe('apiserver durability', () => {
  const children: ChildProcess[] = [];
  let dataDir = '';
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps every acknowledged create across kill -9 in the middle of a 1,000-create burst', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cdi-apiserver-kill-'));
    const first = await startServerProcess(dataDir);
    children.push(first.child);
    const acknowledged = new Map<string, number>();
    let failed = 0;
    let next = 0;
    const total = 1000;
    const killAt = 400;
    const exited = once(first.child, 'exit');
    const worker = async () => {
      while (next < total) {
        const name = `burst-${next++}`;
        try {
          const obj = (await first.custom.createNamespacedCustomObject({ ...dvGroup, namespace: 'default', body: dataVolume(name) })) as {
            metadata: { resourceVersion: string };
          };
          acknowledged.set(name, Number(obj.metadata.resourceVersion));
          if (acknowledged.size === killAt) first.child.kill('SIGKILL');
        } catch {
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const [, signal] = (await exited) as [number | null, string | null];
    expect(signal).toBe('SIGKILL');
    expect(acknowledged.size).toBeGreaterThanOrEqual(killAt);
    expect(acknowledged.size + failed).toBe(total);
    expect(failed).toBeGreaterThan(0);

    const second = await startServerProcess(dataDir);
    children.push(second.child);
    const list = (await second.custom.listNamespacedCustomObject({ ...dvGroup, namespace: 'default' })) as {
      items: Array<{ metadata: { name: string; resourceVersion: string } }>;
    };
    const present = new Map(list.items.map((i) => [i.metadata.name, Number(i.metadata.resourceVersion)]));
    const lost = [...acknowledged.keys()].filter((n) => !present.has(n));
    expect(lost).toEqual([]);
    for (const [name, rv] of acknowledged) expect(present.get(name)).toBe(rv);
    // resourceVersions keep climbing after the restart.
    const after = (await second.custom.createNamespacedCustomObject({ ...dvGroup, namespace: 'default', body: dataVolume('after-kill') })) as {
      metadata: { resourceVersion: string };
    };
    expect(Number(after.metadata.resourceVersion)).toBeGreaterThan(Math.max(...present.values()));
    second.child.kill('SIGTERM');
    const [code] = (await once(second.child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
