import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalVolumePathAnnotation } from '../../src/node/layout.ts';
import { privilegesFor } from '../../src/node/worker-privileges.ts';
import { kubectlWithInput } from '../support/kubectl.ts';
import { eventually, startHarness, type Harness } from './harness.ts';

/**
 * Pods written by a user holding the API token, aimed at the host: each must be refused with a
 * status that says why, and nothing may run or be written outside the data dir.
 */
const run = promisify(execFile);
let h: Harness;
let outside: string;
let server: http.Server;
let base: string;
const asRoot = process.getuid?.() === 0;

beforeAll(async () => {
  server = http.createServer((req) => {
    // '/hang' never answers: the importer stays running while the test looks at its process.
    if (req.url !== '/hang') req.socket.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  outside = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cdi-attack-'));
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await fs.promises.rm(outside, { recursive: true, force: true });
});

async function boundClaim(name: string): Promise<string> {
  await h.core.createNamespacedPersistentVolumeClaim({
    namespace: 'default',
    body: { metadata: { name }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '8Mi' } } } },
  });
  return eventually(async () => {
    const c = await h.core.readNamespacedPersistentVolumeClaim({ namespace: 'default', name });
    return c.status?.phase === 'Bound' ? c.metadata?.annotations?.[LocalVolumePathAnnotation] : undefined;
  }, `claim ${name} bound`);
}

function importer(name: string, claim: string, over: Partial<V1Container> = {}, env: Record<string, string> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      restartPolicy: 'OnFailure',
      containers: [
        {
          name: 'importer',
          image: 'cdi-ts/importer:latest',
          env: Object.entries({ IMPORTER_SOURCE: 'none', IMPORTER_IMAGE_SIZE: '1Mi', ...env }).map(([k, v]) => ({ name: k, value: v })),
          volumeMounts: [{ name: 'cdi-data-vol', mountPath: '/data' }],
          ...over,
        },
      ],
      volumes: [{ name: 'cdi-data-vol', persistentVolumeClaim: { claimName: claim } }],
    },
  };
}

async function create(pod: V1Pod): Promise<void> {
  const res = await kubectlWithInput(h.api.kubeconfigPath, JSON.stringify(pod), 'create', '-f', '-');
  expect(res.code, res.stderr).toBe(0);
}

/** The reason the agent gives in the pod status for not running it. */
async function refusal(name: string): Promise<{ phase?: string; condition?: string; waiting?: string }> {
  return eventually(async () => {
    const p = await h.core.readNamespacedPod({ namespace: 'default', name });
    const waiting = p.status?.containerStatuses?.[0]?.state?.waiting;
    const condition = p.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')?.message;
    if (!waiting?.message && !condition) return undefined;
    return { phase: p.status?.phase, ...(condition ? { condition } : {}), ...(waiting?.message ? { waiting: `${waiting.reason}: ${waiting.message}` } : {}) };
  }, `refusal of ${name}`);
}

function listOutside(): string[] {
  return fs.readdirSync(outside);
}

describe('pods that would run host commands', () => {
  const marker = () => path.join(outside, 'marker');
  const payload = () => `--import=data:text/javascript,import fs from "node:fs"; fs.writeFileSync(${JSON.stringify(marker())}, "pwned")`;

  it('refuses NODE_OPTIONS, LD_PRELOAD and PATH in env, and the code they carry never runs', async () => {
    await boundClaim('env-attack');
    await create(importer('node-options', 'env-attack', {}, { NODE_OPTIONS: payload() }));
    await create(importer('ld-preload', 'env-attack', {}, { LD_PRELOAD: path.join(outside, 'evil.so') }));
    await create(importer('path', 'env-attack', {}, { PATH: outside }));
    for (const [name, variable] of [['node-options', 'NODE_OPTIONS'], ['ld-preload', 'LD_PRELOAD'], ['path', 'PATH']] as const) {
      const r = await refusal(name);
      expect(r.phase).toBe('Pending');
      expect(r.condition).toBe(`container "importer": spec.containers[0].env "${variable}" is not a variable of the importer worker's contract: the local node agent refuses to run it`);
      expect(r.waiting).toMatch(/^CreateContainerConfigError: /);
    }
    expect(listOutside()).toEqual([]);
  });

  it('refuses a variable brought in by envFrom and the agent-only CDI_* variables', async () => {
    await boundClaim('envfrom-attack');
    await h.core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'evil' }, data: { NODE_OPTIONS: payload() } } });
    await create(importer('envfrom', 'envfrom-attack', { envFrom: [{ configMapRef: { name: 'evil' } }] }));
    expect((await refusal('envfrom')).waiting).toBe(`CreateContainerConfigError: variable "NODE_OPTIONS" is not part of the importer worker's contract`);
    await create(importer('target-path', 'envfrom-attack', {}, { CDI_TARGET_PATH: path.join(outside, 'disk.img') }));
    expect((await refusal('target-path')).condition).toContain('env "CDI_TARGET_PATH" is not a variable of the importer worker\'s contract');
    expect(listOutside()).toEqual([]);
  });

  it('refuses a command, foreign arguments and exec handlers; none of them runs', async () => {
    await boundClaim('cmd-attack');
    const touch = ['/bin/sh', '-c', `touch ${marker()}`];
    await create(importer('command', 'cmd-attack', { command: touch }));
    await create(importer('args', 'cmd-attack', { args: ['--import=data:text/javascript,1'] }));
    await create(importer('exec-probe', 'cmd-attack', { readinessProbe: { exec: { command: touch }, periodSeconds: 1 } }));
    await create(importer('hook', 'cmd-attack', { lifecycle: { postStart: { exec: { command: touch } } } }));
    expect((await refusal('command')).condition).toContain('spec.containers[0].command is set: a worker runs its image\'s own entry point');
    expect((await refusal('args')).condition).toContain('spec.containers[0].args "--import=data:text/javascript,1" is not a worker argument (only -v=<level>)');
    expect((await refusal('exec-probe')).condition).toContain('spec.containers[0].readinessProbe.exec is not supported');
    expect((await refusal('hook')).condition).toContain('spec.containers[0].lifecycle hooks are not supported');
    expect(listOutside()).toEqual([]);
  });

  it('refuses pods asking for root or privileges', async () => {
    await boundClaim('priv-attack');
    await create(importer('privileged', 'priv-attack', { securityContext: { privileged: true } }));
    const root = importer('as-root', 'priv-attack');
    root.spec!.securityContext = { runAsUser: 0 };
    await create(root);
    await create(importer('caps', 'priv-attack', { securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }));
    expect((await refusal('privileged')).condition).toContain('spec.containers[0].securityContext.privileged is true');
    expect((await refusal('as-root')).condition).toContain('spec.securityContext.runAsUser is 0 (root)');
    expect((await refusal('caps')).condition).toContain('capabilities.add asks for SYS_ADMIN');
  });
});

describe('pods that would write outside their volume', () => {
  it('refuses absolute and escaping subPaths with the kubelet messages', async () => {
    await boundClaim('subpath-attack');
    await create(importer('subpath-up', 'subpath-attack', { volumeMounts: [{ name: 'cdi-data-vol', mountPath: '/data', subPath: '../../..' }] }));
    await create(importer('subpath-abs', 'subpath-attack', { volumeMounts: [{ name: 'cdi-data-vol', mountPath: '/data', subPath: outside }] }));
    expect((await refusal('subpath-up')).waiting).toBe("CreateContainerConfigError: unable to provision SubPath `../../..`: must not contain '..'");
    expect((await refusal('subpath-abs')).waiting).toBe(`CreateContainerConfigError: error SubPath \`${outside}\` must not be an absolute path`);
    expect(fs.existsSync(path.join(h.dataDir, 'disk.img'))).toBe(false);
    expect(fs.existsSync(path.join(path.dirname(h.dataDir), 'disk.img'))).toBe(false);
    expect(listOutside()).toEqual([]);
  });

  it('follows symlinks inside the volume and refuses a subPath or target that leads out of it', async () => {
    const dir = await boundClaim('symlink-attack');
    await fs.promises.symlink(outside, path.join(dir, 'link'));
    await create(importer('subpath-link', 'symlink-attack', { volumeMounts: [{ name: 'cdi-data-vol', mountPath: '/data', subPath: 'link' }] }, { IMPORTER_CONTENTTYPE: 'archive' }));
    expect((await refusal('subpath-link')).waiting).toBe('CreateContainerConfigError: subPath link resolves outside its volume (a symlink in the volume points elsewhere)');

    const other = await boundClaim('disk-link-attack');
    await fs.promises.symlink(path.join(outside, 'disk.img'), path.join(other, 'disk.img'));
    await create(importer('disk-link', 'disk-link-attack'));
    expect((await refusal('disk-link')).waiting).toBe('CreateContainerConfigError: /data/disk.img resolves outside its volume (a symlink in the volume points elsewhere)');
    expect(listOutside()).toEqual([]);
  });

  it('refuses path variables that name a place outside the mounts', async () => {
    await boundClaim('certdir-attack');
    await create(importer('certdir', 'certdir-attack', {}, { IMPORTER_CERT_DIR: '/etc' }));
    await create(importer('certdir-up', 'certdir-attack', {}, { IMPORTER_CERT_DIR: '/data/../../etc' }));
    expect((await refusal('certdir')).waiting).toBe('CreateContainerConfigError: IMPORTER_CERT_DIR="/etc" is not a path inside one of the container\'s volume mounts');
    expect((await refusal('certdir-up')).waiting).toContain('IMPORTER_CERT_DIR="/data/../../etc" is not a path inside');
  });
});

describe('malformed pods in the store', () => {
  /** curl against the API: typed clients cannot even decode these pods. */
  async function curl(...args: string[]): Promise<string> {
    const ca = path.join(h.dataDir, 'test-ca.pem');
    await fs.promises.writeFile(ca, h.api.caPem);
    const { stdout } = await run('curl', ['-s', '--cacert', ca, '-H', `Authorization: Bearer ${h.api.token}`, ...args]);
    return stdout;
  }
  const podsUrl = () => `${h.api.url}/api/v1/namespaces/default/pods`;
  const createRaw = async (pod: unknown) => Number(await curl('-o', '/dev/null', '-w', '%{http_code}', '-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(pod), podsUrl()));
  const scheduledMessage = (name: string) =>
    eventually(async () => {
      const pod = JSON.parse(await curl(`${podsUrl()}/${name}`)) as { status?: { conditions?: Array<{ type: string; message?: string }> } };
      return pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.message;
    }, `status of ${name}`);

  it('refuses spec.containers: [null] and spec.volumes as an object, and keeps running other pods', async () => {
    const nullContainer = await createRaw({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'null-container' }, spec: { containers: [null] } });
    const volumesObject = await createRaw({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'volumes-object' }, spec: { containers: [{ name: 'c', image: 'cdi-ts/importer:latest' }], volumes: { a: { name: 'a' } } } });
    // Either the API refuses them (schema validation), or the agent must.
    if (nullContainer < 300) expect(await scheduledMessage('null-container')).toBe('spec.containers[0] is not an object: the local node agent refuses to run it');
    else expect(nullContainer).toBeGreaterThanOrEqual(400);
    if (volumesObject < 300) expect(await scheduledMessage('volumes-object')).toBe('spec.volumes is not an array: the local node agent refuses to run it');
    else expect(volumesObject).toBeGreaterThanOrEqual(400);

    // A claim changing makes the agent look at every pod of its namespace; the blank import still completes.
    await boundClaim('after-malformed');
    await create(importer('after-malformed', 'after-malformed'));
    await eventually(async () => (await h.core.readNamespacedPod({ namespace: 'default', name: 'after-malformed' })).status?.phase === 'Succeeded', 'blank import after malformed pods');
    for (const name of ['null-container', 'volumes-object']) await curl('-X', 'DELETE', `${podsUrl()}/${name}`);
  });
});

describe('worker processes', () => {
  it('run as the pod user 107 with no capabilities and no_new_privs, writing a volume they own', async (ctx) => {
    ctx.skip(!asRoot, 'this machine runs the tests without root: workers cannot switch to the pod user');
    // A checkout (or Node) that uid 107 cannot reach keeps the worker at uid 0, still without capabilities.
    const dropped = (await privilegesFor({ uid: 107, gid: 107, groups: [] }, h.dataDir)).mode === 'drop';
    const user = dropped ? '107' : '0';
    const dir = await boundClaim('uid-check');
    // CDI's default worker limit: the address space and the V8 heap are bounded from it.
    await create(importer('uid-check', 'uid-check', { resources: { limits: { memory: '600M' } } }, { IMPORTER_SOURCE: 'http', IMPORTER_ENDPOINT: `${base}/hang` }));
    const pidFile = path.join(h.dataDir, 'pods/default/uid-check/importer.pid');
    const pid = await eventually(async () => (fs.existsSync(pidFile) ? (JSON.parse(fs.readFileSync(pidFile, 'utf8')) as { pid: number }).pid : undefined), 'pid file');
    // setpriv and prlimit exec into node: wait until the process is the worker itself.
    await eventually(async () => (await fs.promises.readlink(`/proc/${pid}/exe`)) === process.execPath, 'worker process');
    const status = await fs.promises.readFile(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1];
    expect({ uid: field('Uid'), gid: field('Gid'), capEff: field('CapEff'), capBnd: field('CapBnd'), noNewPrivs: field('NoNewPrivs') }).toEqual({
      uid: user,
      gid: user,
      capEff: '0000000000000000',
      capBnd: '0000000000000000',
      noNewPrivs: '1',
    });
    if (dropped) expect(fs.statSync(dir).uid).toBe(107);
    const limits = await fs.promises.readFile(`/proc/${pid}/limits`, 'utf8');
    expect(/^Max address space\s+(\d+)/m.exec(limits)?.[1]).toBe(String(600e6 + 1.5 * 2 ** 30));
    expect(/^Max file size\s+(\d+)/m.exec(limits)?.[1]).toBe(String(8 * 2 ** 20));
    expect(await fs.promises.readFile(`/proc/${pid}/cmdline`, 'utf8')).toContain('--max-old-space-size=286');
    const env = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    expect(env.find((e) => e.startsWith('NODE_COMPILE_CACHE='))).toBe(`NODE_COMPILE_CACHE=${path.join(h.dataDir, `cache/node-compile/${user}`)}`);
    expect(env.some((e) => e.startsWith('NODE_OPTIONS='))).toBe(false);
    await h.core.deleteNamespacedPod({ namespace: 'default', name: 'uid-check' });
  });

  it('removes socket directories a crashed agent left in the data dir', async () => {
    const stale = path.join(h.dataDir, 'sockets', 'pod-of-a-crashed-agent');
    await h.stopAgent();
    await fs.promises.mkdir(stale, { recursive: true });
    await fs.promises.writeFile(path.join(stale, 'upload.sock'), '');
    await h.startAgent();
    expect(fs.existsSync(stale)).toBe(false);
    expect(h.agent?.socketDir).toBe(path.join(h.dataDir, 'sockets'));
  });
});
