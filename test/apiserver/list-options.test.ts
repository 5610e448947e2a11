import https from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startHarness, type Harness } from './harness.ts';

/** limit/continue, resourceVersion[Match] and boolean parameters as kube-apiserver answers them. */
describe('apiserver list options', () => {
  let h: Harness;
  const get = (path: string) => rawRequest(h, 'GET', path, '', 'application/json');
  beforeAll(async () => {
    h = await startHarness({ watchWindow: 2 });
    await h.core.createNamespace({ body: { metadata: { name: 'lo' } } });
    for (const name of ['a', 'b', 'c']) await h.core.createNamespacedConfigMap({ namespace: 'lo', body: { metadata: { name } } });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('pages with continue tokens that keep the first page’s resourceVersion, and expires them like a compacted revision', async () => {
    const first = await get('/api/v1/namespaces/lo/configmaps?limit=2');
    const meta = first.body.metadata as { continue: string; resourceVersion: string };
    expect((first.body.items as unknown[]).length).toBe(2);
    const second = await get(`/api/v1/namespaces/lo/configmaps?limit=2&continue=${encodeURIComponent(meta.continue)}`);
    expect(second.body.metadata).toEqual({ resourceVersion: meta.resourceVersion });
    expect((second.body.items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name)).toEqual(['c']);
    // Writes push the token's resourceVersion out of the two-event window.
    for (const name of ['d', 'e', 'f', 'g', 'h']) await h.core.createNamespacedConfigMap({ namespace: 'lo', body: { metadata: { name } } });
    const expired = await get(`/api/v1/namespaces/lo/configmaps?limit=2&continue=${encodeURIComponent(meta.continue)}`);
    expect(expired).toMatchObject({ code: 410, body: { kind: 'Status', reason: 'Expired', message: expect.stringMatching(/^The provided continue parameter is too old/) } });
    expect(await get('/api/v1/namespaces/lo/configmaps?limit=2&continue=garbage')).toMatchObject({ code: 400, body: { message: 'continue key is not valid: invalid token' } });
  });

  it('serves resourceVersionMatch=NotOlderThan and Exact from the latest state, 504 beyond it and 410 before it', async () => {
    const list = await get('/api/v1/namespaces/lo/configmaps');
    const rv = Number((list.body.metadata as { resourceVersion: string }).resourceVersion);
    expect(await get(`/api/v1/namespaces/lo/configmaps?resourceVersion=1&resourceVersionMatch=NotOlderThan`)).toMatchObject({ code: 200 });
    expect(await get(`/api/v1/namespaces/lo/configmaps?resourceVersion=${rv}&resourceVersionMatch=Exact`)).toMatchObject({ code: 200 });
    expect(await get(`/api/v1/namespaces/lo/configmaps?resourceVersion=1&resourceVersionMatch=Exact`)).toMatchObject({
      code: 410,
      body: { reason: 'Expired', message: `too old resource version: 1 (${rv})` },
    });
    expect(await get(`/api/v1/namespaces/lo/configmaps?resourceVersion=${rv + 100}`)).toMatchObject({
      code: 504,
      body: { reason: 'Timeout', message: `Timeout: Too large resource version: ${rv + 100}, current: ${rv}` },
    });
    expect(await get('/api/v1/namespaces/lo/configmaps?resourceVersion=0&resourceVersionMatch=Exact')).toMatchObject({ code: 422, body: { reason: 'Invalid' } });
    expect(await get('/api/v1/namespaces/lo/configmaps?limit=ten')).toMatchObject({ code: 400, body: { message: 'strconv.ParseInt: parsing "ten": invalid syntax' } });
  });

  it('reads watch=false and watch=0 as a list, watch=True as a watch', async () => {
    for (const v of ['false', 'False', '0']) expect(await get(`/api/v1/namespaces/lo/configmaps?watch=${v}`)).toMatchObject({ code: 200, body: { kind: 'ConfigMapList' } });
    const events = await new Promise<string>((resolve, reject) => {
      let text = '';
      // timeoutSeconds ends the stream, so the whole watch can be read.
      https
        .get(`${h.server.url}/api/v1/namespaces/lo/configmaps?watch=True&timeoutSeconds=1&fieldSelector=metadata.name%3Da`, { ca: h.server.caPem, headers: { authorization: `Bearer ${h.server.token}` } }, (res) => {
          res.setEncoding('utf8').on('data', (d: string) => (text += d));
          res.on('end', () => resolve(text));
        })
        .on('error', reject);
    });
    expect(events.trim().split('\n').map((l) => (JSON.parse(l) as { type: string }).type)).toEqual(['ADDED']);
  });
});
