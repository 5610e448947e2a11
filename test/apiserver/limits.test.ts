import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectlWithInput } from '../support/kubectl.ts';
import { curl, watchLines } from './curl.ts';
import { rssOf, startHarness, startServerProcess, type Harness, type ServerProcess } from './harness.ts';

/** Bounded cost: every request a client can send is refused before it costs unbounded memory. */
const MiB = 1024 * 1024;
const configMaps = '/api/v1/namespaces/default/configmaps';
const configMap = (name: string, data: Record<string, string>) => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data });

describe('request limits (server process, RSS from /proc)', () => {
  let dataDir: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'cdi-apiserver-limits-'));
    server = await startServerProcess(dataDir);
  });
  afterAll(async () => {
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('refuses a 1 KiB JSON patch of 19 doubling copies with json-patch\'s copy limit; RSS stays bounded', async () => {
    expect((await curl(server, 'POST', configMaps, configMap('bomb', { a: 'x'.repeat(800) }))).code).toBe(201);
    const before = (await curl(server, 'GET', `${configMaps}/bomb`)).json() as { metadata: { resourceVersion: string } };
    const ops = Array.from({ length: 19 }, (_, i) => ({ op: 'copy', from: '/data', path: `/data/k${i}` }));
    const patch = JSON.stringify(ops);
    expect(patch.length).toBeLessThan(1024);
    const rss0 = await rssOf(server.child.pid!);
    const reply = await curl(server, 'PATCH', `${configMaps}/bomb`, patch, 'application/json-patch+json');
    expect(reply.code).toBe(422);
    expect(reply.json()).toMatchObject({
      reason: 'Invalid',
      message: 'the server rejected our request due to an error in our request',
      details: { causes: [{ reason: 'UnexpectedServerResponse', message: expect.stringMatching(/^Unable to complete the copy, the accumulated size increase of copy is \d+, exceeding the limit 3145728$/) }] },
    });
    expect((await rssOf(server.child.pid!)) - rss0).toBeLessThan(200 * MiB);
    const after = (await curl(server, 'GET', `${configMaps}/bomb`)).json() as { metadata: { resourceVersion: string } };
    expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('answers 413 to more than 10,000 patch operations and to an object larger than etcd would take', async () => {
    const ops = Array.from({ length: 10_001 }, () => ({ op: 'test', path: '/kind', value: 'ConfigMap' }));
    const many = await curl(server, 'PATCH', `${configMaps}/bomb`, JSON.stringify(ops), 'application/json-patch+json');
    expect(many.code).toBe(413);
    expect(many.json()).toMatchObject({ reason: 'RequestEntityTooLarge', message: 'The allowed maximum operations in a JSON patch is 10000, got 10001' });

    const big = await curl(server, 'POST', configMaps, configMap('big', { a: 'x'.repeat(1600 * 1024) }));
    expect(big.code).toBe(413);
    expect(big.json()).toMatchObject({ reason: 'RequestEntityTooLarge', message: 'etcdserver: request is too large' });
    const grown = await curl(server, 'PATCH', `${configMaps}/bomb`, JSON.stringify({ data: { b: 'y'.repeat(1600 * 1024) } }), 'application/merge-patch+json');
    expect(grown.code).toBe(413);
    expect((await curl(server, 'GET', `${configMaps}/big`)).code).toBe(404);

    const body = await curl(server, 'POST', configMaps, configMap('huge', { a: 'x'.repeat(3 * MiB) }));
    expect(body.code).toBe(413);
    expect(body.json()).toMatchObject({ reason: 'RequestEntityTooLarge', message: 'Request entity too large: limit is 3145728' });
  });

  it('answers 400 to a malformed escape in the path and to JSON nested past the depth limit', async () => {
    const escape = await curl(server, 'GET', '/api/v1/namespaces/%ZZ/pods');
    expect(escape.code).toBe(400);
    expect(escape.json()).toMatchObject({ kind: 'Status', reason: 'BadRequest', message: 'invalid URL escape "%ZZ"' });
    for (const depth of [1001, 200_000]) {
      const nested = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"x":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const reply = await curl(server, 'POST', configMaps, nested);
      expect(reply.code).toBe(400);
      expect(reply.json()).toMatchObject({ reason: 'BadRequest', message: "the request body is not valid JSON: invalid character '[' exceeded max depth" });
    }
    expect((await curl(server, 'GET', '/healthz')).code).toBe(200);
  });

  it('cuts stalled watchers off at a bounded backlog; RSS stays bounded', async () => {
    const stalled = await Promise.all(Array.from({ length: 20 }, () => stalledWatch(server.url, server.token, `${configMaps}?watch=true`)));
    const rss0 = await rssOf(server.child.pid!);
    const value = 'z'.repeat(100 * 1024);
    // 200 objects of 100 KiB: 20 MiB of events each stalled watcher would otherwise hold.
    for (let i = 0; i < 200; i += 8) {
      await Promise.all(
        Array.from({ length: 8 }, (_, j) =>
          server.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: `fill-${i + j}` }, data: { v: value } } }),
        ),
      );
    }
    expect((await rssOf(server.child.pid!)) - rss0).toBeLessThan(200 * MiB);
    const received = await Promise.all(stalled.map((s) => s.drain()));
    for (const bytes of received) expect(bytes).toBeLessThan(10 * MiB);
    // A new watch still works and sees everything from the start.
    const list = await server.core.listNamespacedConfigMap({ namespace: 'default' });
    expect(list.items.filter((c) => c.metadata?.name?.startsWith('fill-'))).toHaveLength(200);
  });
});

/** A watch whose client stops reading after the response starts; `drain` reads what is left until the server closes it. */
async function stalledWatch(url: string, token: string, path: string): Promise<{ drain(): Promise<number> }> {
  const { hostname, port } = new URL(url);
  const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
  await once(socket, 'data');
  socket.pause();
  return {
    drain: async () => {
      let bytes = 0;
      socket.on('data', (d: Buffer) => (bytes += d.length));
      socket.resume();
      await once(socket, 'close');
      return bytes;
    },
  };
}

describe('connection timeouts (in-process server with short timeouts)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ timeouts: { headersMs: 500, requestMs: 1000 } });
  });
  afterAll(() => h.stop());

  function open(): Promise<TLSSocket> {
    const { hostname, port } = new URL(h.server.url);
    const socket = connect({ host: hostname, port: Number(port), rejectUnauthorized: false });
    return once(socket, 'secureConnect').then(() => socket);
  }

  async function answerOf(socket: TLSSocket): Promise<string> {
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    await once(socket, 'close');
    return text;
  }

  it('closes a connection whose headers never finish (408) and one whose body never finishes; a watch outlives both', async () => {
    const events: string[] = [];
    const watch = await watchLines(h.server, `${configMaps}?watch=true`, (line) => events.push(line));
    const loris = await open();
    const lorisAnswer = answerOf(loris);
    loris.write('GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const halfBody = await open();
    const halfAnswer = answerOf(halfBody);
    halfBody.write(`POST ${configMaps} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${h.server.token}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"apiVersion":`);
    expect(await lorisAnswer).toMatch(/^HTTP\/1\.1 408 /);
    expect(await halfAnswer).toMatch(/^HTTP\/1\.1 408 /);
    // Both were cut after requestMs; the watch opened before them still delivers.
    expect((await curl(h.server, 'POST', configMaps, configMap('after-timeouts', {}))).code).toBe(201);
    await expect.poll(() => events.some((e) => e.includes('"after-timeouts"')), { timeout: 5000 }).toBe(true);
    watch.close();
  });
});

describe('claim sizes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(() => h.stop());

  it('refuses a negative or zero PVC size with kube-apiserver\'s message, through curl and kubectl', async () => {
    const pvc = (name: string, storage: string) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage } } } });
    const negative = await curl(h.server, 'POST', '/api/v1/namespaces/default/persistentvolumeclaims', pvc('neg', '-1Gi'));
    expect(negative.code).toBe(422);
    expect(negative.json()).toMatchObject({
      reason: 'Invalid',
      message: 'PersistentVolumeClaim "neg" is invalid: spec.resources.requests[storage]: Invalid value: "-1Gi": must be greater than zero',
      details: { name: 'neg', kind: 'PersistentVolumeClaim', causes: [{ field: 'spec.resources.requests[storage]' }] },
    });
    const zero = await kubectlWithInput(h.server.kubeconfigPath, pvc('zero', '0'), 'create', '-f', '-');
    expect(zero.code).not.toBe(0);
    expect(zero.stderr).toContain('The PersistentVolumeClaim "zero" is invalid: spec.resources.requests[storage]: Invalid value: "0": must be greater than zero');
    expect((await curl(h.server, 'GET', '/api/v1/namespaces/default/persistentvolumeclaims')).json()).toMatchObject({ items: [] });
  });
});
