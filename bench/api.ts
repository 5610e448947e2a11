/**
 * npm run bench:api — the embedded API server under a create burst while a watch follows it.
 * 1,000 DataVolume creates from 8 concurrent clients (one keep-alive TLS connection each) against
 * the server in its own process; one watch must receive all 1,000 ADDED events. Prints creates/s,
 * p50/p99 create latency, watch lag (event received minus create acknowledged), and the server's
 * peak RSS (VmHWM), each against its floor: ≥ 300 creates/s, no event lost, RSS ≤ 150 MiB.
 * The burst runs as a ServiceAccount bound to `edit` (RBAC evaluated on every request); a second
 * burst as the admin (system:masters, no rule walked) gives the cost of authorization as a ratio.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const Total = 1000;
const Clients = 8;
const Namespace = 'default';
const Floors = { createsPerSecond: 300, rssMiB: 150 };

const dataDir = await mkdtemp(path.join(tmpdir(), 'cdi-bench-api-'));
const entry = path.join(import.meta.dirname, '../test/apiserver/server-process.ts');
const server = spawn(process.execPath, [entry, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
// Never leave the server behind, whatever ends this script.
process.on('exit', () => server.kill('SIGKILL'));
const [line] = (await once(createInterface(server.stdout), 'line')) as [string];
const { url } = JSON.parse(line) as { url: string };
const ca = await readFile(path.join(dataDir, 'pki/ca.crt'), 'utf8');
const token = (await readFile(path.join(dataDir, 'pki/token'), 'utf8')).trim();
const collection = `/apis/cdi.kubevirt.io/v1beta1/namespaces/${Namespace}/datavolumes`;
const adminHeaders = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };

function call(method: string, urlPath: string, payload: unknown, want: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${url}${urlPath}`, { method, ca, headers: adminHeaders }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => (res.statusCode === want ? resolve(JSON.parse(text) as Record<string, unknown>) : reject(new Error(`${method} ${urlPath}: HTTP ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(JSON.stringify(payload));
  });
}

// The ServiceAccount the burst runs as: bound to the aggregated `edit` ClusterRole in the namespace.
await call('POST', `/api/v1/namespaces/${Namespace}/serviceaccounts`, { metadata: { name: 'bench' } }, 201);
await call(
  'POST',
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${Namespace}/rolebindings`,
  { metadata: { name: 'bench-edit' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'ServiceAccount', name: 'bench', namespace: Namespace }] },
  201,
);
const saToken = ((await call('POST', `/api/v1/namespaces/${Namespace}/serviceaccounts/bench/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} }, 201)).status as { token: string }).token;
const headers = { authorization: `Bearer ${saToken}`, 'content-type': 'application/json' };

function body(name: string): string {
  return JSON.stringify({
    apiVersion: 'cdi.kubevirt.io/v1beta1',
    kind: 'DataVolume',
    metadata: { name, labels: { bench: 'api' } },
    spec: { source: { http: { url: `https://images.example.com/${name}.qcow2` } }, storage: { resources: { requests: { storage: '1Gi' } } } },
  });
}

function post(agent: https.Agent, name: string, as = headers): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(`${url}${collection}`, { method: 'POST', agent, ca, headers: as }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? resolve(performance.now()) : reject(new Error(`create ${name}: HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body(name));
  });
}

// The watch: started from the current resourceVersion, so it sees exactly the burst.
const received = new Map<string, number>();
const listRv = await new Promise<string>((resolve, reject) => {
  https.get(`${url}${collection}?limit=1`, { ca, headers }, (res) => {
    let text = '';
    res.setEncoding('utf8').on('data', (d: string) => (text += d));
    res.on('end', () => resolve((JSON.parse(text) as { metadata: { resourceVersion: string } }).metadata.resourceVersion));
  }).on('error', reject);
});
let watchRequest: ReturnType<typeof https.get> | undefined;
const allReceived = new Promise<void>((resolve, reject) => {
  watchRequest = https.get(`${url}${collection}?watch=true&resourceVersion=${listRv}`, { ca, headers }, (res) => {
    res.on('error', () => {});
    const lines = createInterface(res);
    lines.on('error', () => {});
    lines.on('line', (l) => {
      if (!l.trim()) return;
      const event = JSON.parse(l) as { type: string; object: { metadata: { name: string } } };
      if (event.type === 'ADDED') received.set(event.object.metadata.name, performance.now());
      if (received.size === Total) resolve();
    });
  });
  watchRequest.on('error', (err) => (received.size === Total ? resolve() : reject(err)));
});

const acked = new Map<string, number>();
const latencies: number[] = [];
let next = 0;
const start = performance.now();
await Promise.all(
  Array.from({ length: Clients }, async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    while (next < Total) {
      const name = `bench-${next++}`;
      const sent = performance.now();
      const done = await post(agent, name);
      latencies.push(done - sent);
      acked.set(name, done);
    }
    agent.destroy();
  }),
);
const elapsed = (performance.now() - start) / 1000;
const watchTimeout = setTimeout(() => {
  console.error(`watch received ${received.size}/${Total} events`);
  process.exitCode = 1;
}, 10_000);
await Promise.race([allReceived, once(server, 'exit')]);
clearTimeout(watchTimeout);
watchRequest?.destroy();

// The cost of authorization: alternating rounds as the admin and as the ServiceAccount, so both
// see the same store size and the same machine load; the ratio is ServiceAccount over admin throughput.
async function burst(count: number, prefix: string, as: typeof headers): Promise<number> {
  let i = 0;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: Clients }, async () => {
      const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
      while (i < count) await post(agent, `${prefix}-${i++}`, as);
      agent.destroy();
    }),
  );
  return (performance.now() - began) / 1000;
}
const Rounds = 4;
const RoundSize = 250;
let adminSeconds = 0;
let saSeconds = 0;
for (let r = 0; r < Rounds; r++) {
  adminSeconds += await burst(RoundSize, `admin-${r}`, adminHeaders);
  saSeconds += await burst(RoundSize, `sa-${r}`, headers);
}
const adminCreatesPerSecond = (Rounds * RoundSize) / adminSeconds;
const saRoundsPerSecond = (Rounds * RoundSize) / saSeconds;

const status = await readFile(`/proc/${server.pid}/status`, 'utf8');
const peakRssMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
server.kill('SIGTERM');
await once(server, 'exit');
await rm(dataDir, { recursive: true, force: true });

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;
const lags = [...acked].map(([name, at]) => (received.get(name) ?? NaN) - at);
const lost = [...acked.keys()].filter((n) => !received.has(n)).length;
const createsPerSecond = Total / elapsed;
const ms = (v: number) => `${v.toFixed(1)} ms`;
console.log(`creates:        ${Total} from ${Clients} clients in ${elapsed.toFixed(2)} s, as ServiceAccount ${Namespace}/bench (edit)`);
console.log(`creates/s:      ${createsPerSecond.toFixed(0)}  (floor ${Floors.createsPerSecond}, ratio ${(createsPerSecond / Floors.createsPerSecond).toFixed(2)})`);
console.log(`authorization:  alternating rounds ${adminCreatesPerSecond.toFixed(0)} creates/s as admin, ${saRoundsPerSecond.toFixed(0)} as ServiceAccount: ratio ${(saRoundsPerSecond / adminCreatesPerSecond).toFixed(2)}`);
console.log(`create latency: p50 ${ms(pct(latencies, 50))}  p99 ${ms(pct(latencies, 99))}`);
console.log(`watch:          ${received.size}/${Total} events, lost ${lost}; lag after ack p50 ${ms(pct(lags, 50))} p99 ${ms(pct(lags, 99))} max ${ms(Math.max(...lags))}`);
console.log(`server peak RSS: ${peakRssMiB.toFixed(1)} MiB  (floor ≤ ${Floors.rssMiB}, ratio ${(peakRssMiB / Floors.rssMiB).toFixed(2)})`);
if (createsPerSecond < Floors.createsPerSecond || lost > 0 || received.size !== Total || peakRssMiB > Floors.rssMiB) {
  console.log('FLOOR MISSED');
  process.exitCode = 1;
}
