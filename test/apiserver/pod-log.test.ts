import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { podLogPath } from '../../src/node/layout.ts';
import { eventually, startHarness, statusOf, type Harness } from './harness.ts';

describe('apiserver pods/log', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await h.core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'importer-x' }, spec: { containers: [{ name: 'importer', image: 'cdi-importer' }] } },
    });
    await h.core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'two' }, spec: { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] } },
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('serves the node agent log file of the container, with tailLines and previous', async () => {
    const file = podLogPath(h.dataDir, 'default', 'importer-x', 'importer');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, 'one\ntwo\nthree\n');
    await writeFile(podLogPath(h.dataDir, 'default', 'importer-x', 'importer', true), 'before restart\n');
    expect(await h.core.readNamespacedPodLog({ namespace: 'default', name: 'importer-x' })).toBe('one\ntwo\nthree\n');
    expect(await h.core.readNamespacedPodLog({ namespace: 'default', name: 'importer-x', tailLines: 2 })).toBe('two\nthree\n');
    expect(await h.core.readNamespacedPodLog({ namespace: 'default', name: 'importer-x', previous: true })).toBe('before restart\n');
    const ambiguous = await statusOf(h.core.readNamespacedPodLog({ namespace: 'default', name: 'two' }));
    expect(ambiguous.code).toBe(400);
    expect(await h.core.readNamespacedPodLog({ namespace: 'default', name: 'two', container: 'b' })).toBe('');
    expect((await statusOf(h.core.readNamespacedPodLog({ namespace: 'default', name: 'two', container: '../x' }))).code).toBe(400);
    expect((await statusOf(h.core.readNamespacedPodLog({ namespace: 'default', name: 'absent' }))).code).toBe(404);
  });

  it('follows the log until the pod finishes', async () => {
    const file = podLogPath(h.dataDir, 'default', 'importer-x', 'importer');
    let text = '';
    const ended = new Promise<void>((resolve, reject) => {
      https
        .get(
          `${h.server.url}/api/v1/namespaces/default/pods/importer-x/log?follow=true`,
          { ca: h.server.caPem, headers: { authorization: `Bearer ${h.server.token}` } },
          (res) => {
            res.setEncoding('utf8').on('data', (d: string) => (text += d));
            res.on('end', resolve);
          },
        )
        .on('error', reject);
    });
    await eventually(() => (text.includes('three\n') ? true : undefined), 'the existing log');
    await appendFile(file, 'four\n');
    await eventually(() => (text.includes('four\n') ? true : undefined), 'the appended line');
    const pod = await h.core.readNamespacedPodStatus({ namespace: 'default', name: 'importer-x' });
    await appendFile(file, 'five\n');
    await h.core.replaceNamespacedPodStatus({ namespace: 'default', name: 'importer-x', body: { ...pod, status: { phase: 'Succeeded' } } });
    await ended;
    expect(text).toBe('one\ntwo\nthree\nfour\nfive\n');
  });
});
