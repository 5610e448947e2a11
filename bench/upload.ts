/**
 * `npm run bench:upload`: curl uploads a 2 GiB image (raw, half of it zeros; and the same image as
 * qcow2) over TLS through our upload proxy into an upload server (its bundle, as the node agent
 * runs it), each its own process, into a file; against curl uploading the same bytes over TLS to
 * nginx, which writes the body to a file (WebDAV PUT, client_body_in_file_only). Ours runs both
 * ways the proxy reaches a server: mTLS (a cluster) and the owner-only unix socket (`cdi serve` on
 * one machine). Order rotates each round, 5 rounds, medians. Then one 4 GiB upload per hop with
 * the peak RSS of proxy and server sampled throughout.
 *
 * Our upload server answers only after the volume is fsynced (CDI's sync semantics); nginx does
 * not fsync, so nginx is also timed followed by `sync FILE` and both ratios are printed.
 *
 * The product as users run it: `bin/cdi image-upload dv NAME --size 3Gi --image-path FILE` against
 * one `bin/cdi serve` (its proxy process → the upload pod's process over the unix socket), timed
 * whole (create the DataVolume, wait for the upload pod, send, wait for processing) and for its
 * transfer alone (from its "Uploading data to" line to its "completed" line); the transfer is
 * judged against the floors, the whole command only printed.
 *
 * Usage: node bench/upload.ts [--rounds N] [--case raw|qcow2] [--profile DIR]
 *   --case         only that image, and no 4 GiB run
 *   --profile DIR  instead: one qcow2 upload per hop with proxy and server under --cpu-prof, profiles in DIR
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createInterface } from 'node:readline';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { UploadClientName } from '../src/api/annotations.ts';
import { WorkerImages } from '../src/api/images.ts';
import { dataPathNodeFlags } from '../src/api/runtime.ts';
import { localSocketUrl } from '../src/api/upload-target.ts';
import { generateSigningKey, signUploadToken } from '../src/api/upload-token.ts';
import { checkWorkerBundle } from '../src/node/worker-bundle.ts';
import { uploadCerts } from '../test/upload/harness.ts';
import { freePort, reportedPort, waitForPort } from '../test/support/ports.ts';
import { benchDir, benchInputs } from './convert-image.ts';

const run = promisify(execFile);
const args = process.argv.slice(2);
const rounds = Math.max(3, Number(args[args.indexOf('--rounds') + 1]) || 5);
const onlyCase = args.includes('--case') ? args[args.indexOf('--case') + 1] : undefined;
const profileDir = args.includes('--profile') ? path.resolve(args[args.indexOf('--profile') + 1] ?? 'profiles') : undefined;
const nodeFlags = [...dataPathNodeFlags, ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [])];
const log = (line: string): void => void process.stderr.write(`${line}\n`);
const root = path.resolve(import.meta.dirname, '..');
const GiB = 1 << 30;

// Only the raw image and its qcow2 are needed: skip building the compressed inputs when both exist.
const cached = { raw: path.join(benchDir, 'test.raw'), qcow2: path.join(benchDir, 'test.qcow2') };
const inputs = existsSync(cached.raw) && existsSync(cached.qcow2) ? cached : await benchInputs(log);
const big = path.join(benchDir, 'upload-4g.raw');
if (!existsSync(big)) {
  log('building upload-4g.raw (test.raw twice, sparse) ...');
  await run('sh', ['-c', 'cp --sparse=always "$0" "$1.tmp" && dd if="$0" of="$1.tmp" bs=1M seek=2048 conv=sparse,notrunc status=none && mv "$1.tmp" "$1"', inputs.raw, big]);
}
const certs = await uploadCerts();
const keys = await generateSigningKey();
const token = await signUploadToken(keys.privatePem, { name: 'bench', namespace: 'bench' }, { ttlSeconds: 6 * 3600 });
// Its own directory: the bench inputs are shared with other runs on this machine.
const work = await mkdtemp(path.join(benchDir, 'upload-work-'));
await mkdir(path.join(work, 'nginx', 'root'), { recursive: true });
await mkdir(path.join(work, 'nginx', 'body'), { recursive: true });
const targetFile = path.join(work, 'target-url');
// As the node agent makes it: 0700, short enough for a socket path.
const socketDir = await mkdtemp(path.join(os.tmpdir(), 'cdi-sockets-'));

// The upload server as the node agent starts it: its bundle when fresh, else the source.
const serverBundle = await checkWorkerBundle(root, WorkerImages.uploadServer.entry);
const serverEntry = serverBundle.fresh ? serverBundle.file : path.join(root, WorkerImages.uploadServer.entry);
if (!serverBundle.fresh) log(`upload server from source: ${serverBundle.why}`);

const children = new Set<ChildProcess>();
const exited = (child: ChildProcess): Promise<number | null> =>
  child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise((resolve) => child.once('exit', (code) => resolve(code)));

// The proxy runs as its own process.
async function startProxy(nodeArgs: readonly string[]): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [...nodeArgs, path.join(root, 'bench/upload-proxy.ts')], {
    env: {
      ...process.env,
      BENCH_UPLOAD_PROXY: JSON.stringify({
        cert: certs.serverPem,
        key: certs.serverKeyPem,
        clientCert: certs.proxyClientPem,
        clientKey: certs.proxyClientKeyPem,
        ca: certs.caPem,
        publicKeyPem: keys.publicPem,
        targetFile,
        localSocketDir: socketDir,
      }),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').once('data', (d: string) => resolve(d.trim()));
    child.once('exit', () => reject(new Error('upload proxy exited')));
  });
  return { child, url };
}
// One proxy process per hop, both with the data-path flags the proxy image and `cdi serve`'s
// proxy process run under, so only the hop differs.
const proxies = { mtls: await startProxy(nodeFlags), socket: await startProxy(nodeFlags) };

// nginx writing the request body to a file.
const nginxPort = await freePort();
const ngx = path.join(work, 'nginx');
await writeFile(
  path.join(ngx, 'nginx.conf'),
  `worker_processes 1; daemon off; user root; pid ${ngx}/nginx.pid; error_log ${ngx}/error.log warn;
events { worker_connections 64; }
http { access_log off; client_max_body_size 0; client_body_buffer_size 1m; client_body_temp_path ${ngx}/body;
  ${['proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${ngx}/${t};`).join(' ')}
  server { listen 127.0.0.1:${nginxPort} ssl; ssl_certificate ${certs.serverCert}; ssl_certificate_key ${certs.serverKey};
    ssl_protocols TLSv1.2 TLSv1.3; root ${ngx}/root;
    location / { dav_methods PUT; create_full_put_path on; client_body_in_file_only on; } } }
`,
);
const nginx = spawn('nginx', ['-c', path.join(ngx, 'nginx.conf'), '-p', ngx], { stdio: 'ignore' });
children.add(nginx);
await waitForPort(nginxPort);

/** utime + stime of a process in seconds (Linux clock ticks are 100 Hz). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / 100;
}

/** CPU seconds a process spends from now until the returned function is called (last sample for one that exits). */
function sampleCpu(pid: number): () => Promise<number> {
  let first: number | undefined;
  let last = 0;
  const take = async () => {
    const v = await cpuSeconds(pid);
    if (v > 0) {
      first ??= v;
      last = v;
    }
  };
  void take();
  const timer = setInterval(() => void take(), 50);
  return async () => {
    clearInterval(timer);
    await take();
    return last - (first ?? last);
  };
}

function sampleRss(pid: number): () => number {
  let max = 0;
  const timer = setInterval(() => {
    readFile(`/proc/${pid}/status`, 'utf8').then(
      (s) => (max = Math.max(max, Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0))),
      () => undefined,
    );
  }, 50);
  return () => {
    clearInterval(timer);
    return max / 1024;
  };
}

const curlArgs = (file: string) => ['-sS', '--cacert', certs.caCert, '-H', 'Expect:', '-o', '/dev/null', '-w', '%{http_code}', '-T', file];

interface OursRun {
  seconds: number;
  proxyCpu: number;
  serverCpu: number;
  serverRss: number;
  proxyRss: number;
  spillBytes: number;
  output: string;
}

type Hop = keyof typeof proxies;

async function ours(file: string, virtualSize: number, hop: Hop): Promise<OursRun> {
  const via = proxies[hop];
  const dir = path.join(work, 'volume');
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'scratch'), { recursive: true });
  // As the node agent lays it out: <socket dir>/<pod uid>/upload.sock.
  const socket = path.join(socketDir, 'bench-pod', 'upload.sock');
  await mkdir(path.dirname(socket), { recursive: true });
  const server = spawn(process.execPath, [...nodeFlags, serverEntry], {
    env: {
      ...process.env,
      TLS_KEY: certs.serverKey,
      TLS_CERT: certs.serverCert,
      CLIENT_CERT: certs.caCert,
      CLIENT_NAME: UploadClientName,
      UPLOAD_IMAGE_SIZE: String(virtualSize),
      CDI_LISTEN_PORT: '0',
      CDI_TARGET_PATH: path.join(dir, 'disk.img'),
      CDI_TERMINATION_LOG: path.join(dir, 'termination-log'),
      CDI_SCRATCH_DIR: path.join(dir, 'scratch'),
      ...(hop !== 'mtls' ? { CDI_LISTEN_SOCKET: socket } : {}),
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(server);
  let serverLog = '';
  server.stdout!.setEncoding('utf8').on('data', (d: string) => (serverLog += d));
  const port = await reportedPort(server.stdout!, 'upload server listening');
  await writeFile(targetFile, hop !== 'mtls' ? localSocketUrl(socket) : `https://127.0.0.1:${port}`);
  await run('sync');
  const stopServer = sampleRss(server.pid!);
  const stopProxy = sampleRss(via.child.pid!);
  // CPU from here on; the server exits at the end, so its last sample counts.
  const serverCpu = sampleCpu(server.pid!);
  const proxyCpu = sampleCpu(via.child.pid!);
  const started = process.hrtime.bigint();
  const { stdout } = await run('curl', [...curlArgs(file), '-X', 'POST', '-H', `Authorization: Bearer ${token}`, `${via.url}/v1beta1/upload-async`]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuProxy = await proxyCpu();
  // A failed upload leaves the server up for the next attempt: stop it rather than wait for its exit.
  if (stdout !== '200') server.kill('SIGTERM');
  const code = await exited(server);
  children.delete(server);
  const cpuServer = await serverCpu();
  const serverRss = stopServer();
  const proxyRss = stopProxy();
  if (stdout !== '200' || code !== 0) throw new Error(`upload failed: HTTP ${stdout}, server exit ${code}\n${serverLog.slice(-2000)}`);
  const done = serverLog.split('\n').find((l) => l.includes('"conversion complete"'));
  const spillBytes = done ? Number((JSON.parse(done) as { spillBytes: number }).spillBytes) : NaN;
  return { seconds, proxyCpu: cpuProxy, serverCpu: cpuServer, serverRss, proxyRss, spillBytes, output: path.join(dir, 'disk.img') };
}

// Not a reference to beat but the runtime's ceiling: a Node HTTPS server that drops the body.
const sinkScript = `
const fs = require('node:fs');
require('node:https')
  .createServer({ cert: fs.readFileSync(process.env.CERT), key: fs.readFileSync(process.env.KEY), requestTimeout: 0 }, (req, res) => {
    req.on('data', () => {});
    req.on('end', () => res.end());
  })
  .listen(0, '127.0.0.1', function () { console.log(JSON.stringify({ msg: 'listening', port: this.address().port })); });
`;
const sink = spawn(process.execPath, ['-e', sinkScript], {
  env: { ...process.env, CERT: certs.serverCert, KEY: certs.serverKey },
  stdio: ['ignore', 'pipe', 'inherit'],
});
children.add(sink);
const sinkPort = await reportedPort(sink.stdout!, 'listening');

// `cdi serve` for the image-upload rows, its data dir on the same disk as nginx's.
const serveDir = path.join(work, 'serve');
const serve = spawn(path.join(root, 'bin/cdi'), ['serve', '--data-dir', serveDir, '--port', '0', '--upload-proxy-port', '0', '--log-format', 'json'], {
  stdio: ['ignore', 'ignore', 'pipe'],
});
children.add(serve);
await new Promise<void>((resolve, reject) => {
  let stderr = '';
  serve.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (stderr.includes('cdi serve is ready')) resolve();
  });
  serve.once('exit', (code) => reject(new Error(`cdi serve exited (${code}):\n${stderr}`)));
});
const kubeconfig = path.join(serveDir, 'kubeconfig');
const serveKube = new KubeConfig();
serveKube.loadFromFile(kubeconfig);
const dataVolumes = serveKube.makeApiClient(CustomObjectsApi);
const claims = serveKube.makeApiClient(CoreV1Api);
let uploads = 0;

interface ProductRun {
  seconds: number;
  transfer: number;
  output: string;
}

/** `bin/cdi image-upload` of the file into a new DataVolume; the volume is deleted after the caller compared it. */
async function viaImageUpload(file: string): Promise<ProductRun & { remove(): Promise<void> }> {
  const name = `bench-${++uploads}`;
  const started = process.hrtime.bigint();
  const at = () => Number(process.hrtime.bigint() - started) / 1e9;
  const child = spawn(path.join(root, 'bin/cdi'), ['image-upload', 'dv', name, '--size', '3Gi', '--image-path', file, '-n', 'default'], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let sending = NaN;
  let sent = NaN;
  let output = '';
  createInterface({ input: child.stdout }).on('line', (line) => {
    output += `${line}\n`;
    if (line.startsWith('Uploading data to ')) sending = at();
    if (line.startsWith('Uploading data completed successfully')) sent = at();
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const code = await exited(child);
  const seconds = at();
  if (code !== 0) throw new Error(`cdi image-upload exited ${code}:\n${output.slice(-2000)}`);
  const dv = (await dataVolumes.getNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', namespace: 'default', plural: 'datavolumes', name })) as {
    status?: { claimName?: string };
  };
  const claim = await claims.readNamespacedPersistentVolumeClaim({ namespace: 'default', name: dv.status?.claimName ?? name });
  return {
    seconds,
    transfer: sent - sending,
    output: path.join(serveDir, 'volumes', 'default', claim.metadata!.uid!, 'disk.img'),
    remove: async () => {
      await dataVolumes.deleteNamespacedCustomObject({ group: 'cdi.kubevirt.io', version: 'v1beta1', namespace: 'default', plural: 'datavolumes', name });
    },
  };
}

async function viaNodeSink(file: string): Promise<{ seconds: number; cpu: number }> {
  const cpu = sampleCpu(sink.pid!);
  const started = process.hrtime.bigint();
  const { stdout } = await run('curl', [...curlArgs(file), `https://127.0.0.1:${sinkPort}/`]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (stdout !== '200') throw new Error(`node sink upload failed: HTTP ${stdout}`);
  return { seconds, cpu: await cpu() };
}

async function viaNginx(file: string): Promise<{ seconds: number; durable: number; cpu: number }> {
  const out = path.join(ngx, 'root', 'up.img');
  await rm(out, { force: true });
  await run('sync');
  const worker = Number((await run('pgrep', ['-P', String(nginx.pid)])).stdout.trim().split('\n')[0]);
  const workerCpu = sampleCpu(worker);
  const started = process.hrtime.bigint();
  const { stdout } = await run('curl', [...curlArgs(file), `https://127.0.0.1:${nginxPort}/up.img`]);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = await workerCpu();
  await run('sync', [out]);
  const durable = Number(process.hrtime.bigint() - started) / 1e9;
  if (stdout !== '201' && stdout !== '204') throw new Error(`nginx upload failed: HTTP ${stdout}`);
  if ((await stat(out)).size !== (await stat(file)).size) throw new Error('nginx wrote a different size');
  return { seconds, durable, cpu };
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const mbps = (bytes: number, seconds: number): string => (bytes / seconds / 1e6).toFixed(0);

const loadAtStart = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
const rows: string[] = [];
let worstRss = { server: 0, proxy: 0 };
const hops: Array<{ hop: Hop; label: string }> = [
  { hop: 'mtls', label: 'mTLS (cluster)' },
  { hop: 'socket', label: 'unix socket (cdi serve)' },
];
type Who = Hop | 'nginx' | 'sink' | 'product';
// Each round rotates who goes first, so no method always runs on a cold or a warm page cache.
const orders: Who[][] = [
  ['mtls', 'socket', 'product', 'nginx', 'sink'],
  ['sink', 'nginx', 'mtls', 'product', 'socket'],
  ['product', 'socket', 'sink', 'nginx', 'mtls'],
  ['nginx', 'product', 'mtls', 'sink', 'socket'],
  ['socket', 'nginx', 'mtls', 'sink', 'product'],
];
try {
  if (profileDir) {
    for (const { hop, label } of hops) {
      const r = await ours(inputs.qcow2, 2 * GiB, hop);
      log(`profiled qcow2 upload, ${label}: ${r.seconds.toFixed(3)} s, CPU proxy ${r.proxyCpu.toFixed(2)} s, server ${r.serverCpu.toFixed(2)} s`);
    }
    log(`profiles in ${profileDir} (the proxies' are written when they stop)`);
  }
  for (const c of profileDir ? [] : [
    // Floors of issue 17, against nginx followed by sync.
    { key: 'raw', name: 'raw 2 GiB (half zeros)', file: inputs.raw, floor: 0.9 },
    { key: 'qcow2', name: 'qcow2 of it', file: inputs.qcow2, floor: 0.6 },
  ].filter((c) => onlyCase === undefined || c.key === onlyCase)) {
    const bytes = (await stat(c.file)).size;
    const oursRuns: Record<Hop, OursRun[]> = { mtls: [], socket: [] };
    const ngxTimes: number[] = [];
    const ngxDurable: number[] = [];
    const ngxCpu: number[] = [];
    const sinkRuns: Array<{ seconds: number; cpu: number }> = [];
    const productRuns: ProductRun[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const who of orders[round % orders.length]!) {
        if (who === 'sink') {
          sinkRuns.push(await viaNodeSink(c.file));
          continue;
        }
        if (who === 'product') {
          const r = await viaImageUpload(c.file);
          // The volume is the image grown to the claim's usable size, as CDI does: compare the image's bytes.
          if (round === 0) await run('cmp', ['-n', String((await stat(inputs.raw)).size), r.output, inputs.raw]);
          await r.remove();
          productRuns.push(r);
          continue;
        }
        if (who === 'nginx') {
          const r = await viaNginx(c.file);
          ngxTimes.push(r.seconds);
          ngxDurable.push(r.durable);
          ngxCpu.push(r.cpu);
          continue;
        }
        const r = await ours(c.file, 2 * GiB, who);
        oursRuns[who].push(r);
        worstRss = { server: Math.max(worstRss.server, r.serverRss), proxy: Math.max(worstRss.proxy, r.proxyRss) };
        // Once per case and hop: the volume must hold exactly the raw image.
        if (round === 0) await run('cmp', [r.output, inputs.raw]);
      }
      const last = (h: Hop) => oursRuns[h].at(-1)!.seconds.toFixed(3);
      log(
        `${c.name} round ${round + 1}: ours mTLS ${last('mtls')} s, socket ${last('socket')} s, nginx ${ngxTimes.at(-1)!.toFixed(3)} s ` +
          `(+sync ${ngxDurable.at(-1)!.toFixed(3)} s), node sink ${sinkRuns.at(-1)!.seconds.toFixed(3)} s, ` +
          `cdi image-upload ${productRuns.at(-1)!.seconds.toFixed(3)} s (transfer ${productRuns.at(-1)!.transfer.toFixed(3)} s)`,
      );
    }
    const sinkTimes = sinkRuns.map((r) => r.seconds);
    const sinkRatio = median(ngxTimes.map((n, i) => n / sinkTimes[i]!));
    rows.push(
      `| ${c.name} | *ceiling: a Node https server dropping the body, one hop* | ${bytes} | ${median(sinkTimes).toFixed(3)} (${mbps(bytes, median(sinkTimes))} MB/s) | ` +
        `${median(ngxTimes).toFixed(3)} | ${median(ngxDurable).toFixed(3)} | ${sinkRatio.toFixed(2)} | | ${median(sinkRuns.map((r) => r.cpu)).toFixed(2)} (sink) / ${median(ngxCpu).toFixed(2)} | |`,
    );
    for (const { hop, label } of hops) {
      const times = oursRuns[hop].map((r) => r.seconds);
      const ratio = median(ngxTimes.map((n, i) => n / times[i]!));
      const durableRatio = median(ngxDurable.map((n, i) => n / times[i]!));
      const spill = Math.max(...oursRuns[hop].map((r) => r.spillBytes));
      rows.push(
        `| ${c.name} | ${label} | ${bytes} | ${median(times).toFixed(3)} (${mbps(bytes, median(times))} MB/s) | ${median(ngxTimes).toFixed(3)} (${mbps(bytes, median(ngxTimes))} MB/s) | ` +
          `${median(ngxDurable).toFixed(3)} | ${ratio.toFixed(2)} | **${durableRatio.toFixed(2)}** ${durableRatio >= c.floor ? 'ok' : 'MISSED'} (floor ${c.floor}) | ` +
          `${median(oursRuns[hop].map((r) => r.proxyCpu)).toFixed(2)} / ${median(oursRuns[hop].map((r) => r.serverCpu)).toFixed(2)} / ${median(ngxCpu).toFixed(2)} | ${spill} |`,
      );
    }
    // The whole command also creates the DataVolume and waits for its upload server to start,
    // which nginx has no counterpart of: its ratio is printed, not judged against the floor.
    for (const [label, times, judged] of [
      ['`cdi image-upload` → `cdi serve`, transfer', productRuns.map((r) => r.transfer), true],
      ['`cdi image-upload` → `cdi serve`, whole command', productRuns.map((r) => r.seconds), false],
    ] as const) {
      const ratio = median(ngxTimes.map((n, i) => n / times[i]!));
      const durableRatio = median(ngxDurable.map((n, i) => n / times[i]!));
      const verdict = judged ? `${durableRatio >= c.floor ? 'ok' : 'MISSED'} (floor ${c.floor})` : '(not judged: includes creating the volume and starting its server)';
      rows.push(
        `| ${c.name} | ${label} | ${bytes} | ${median(times).toFixed(3)} (${mbps(bytes, median(times))} MB/s) | ${median(ngxTimes).toFixed(3)} | ` +
          `${median(ngxDurable).toFixed(3)} | ${ratio.toFixed(2)} | **${durableRatio.toFixed(2)}** ${verdict} | | |`,
      );
    }
  }
  if (!profileDir) {
    const fours: Record<Hop, OursRun> | undefined = onlyCase ? undefined : { mtls: await ours(big, 4 * GiB, 'mtls'), socket: await ours(big, 4 * GiB, 'socket') };
    if (fours) await run('cmp', [fours.socket.output, big]);
    const bigBytes = (await stat(big)).size;
    const fourLines = hops.flatMap(({ hop, label }) => {
      const four = fours?.[hop];
      if (!four) return [];
      const rssOk = four.serverRss <= 200 && four.proxyRss <= 200;
      return [
        `4 GiB raw upload, ${label}: ${four.seconds.toFixed(3)} s (${mbps(bigBytes, four.seconds)} MB/s), peak RSS upload server ${four.serverRss.toFixed(0)} MiB, ` +
          `upload proxy ${four.proxyRss.toFixed(0)} MiB (floor 200 each: ${rssOk ? 'ok' : 'MISSED'}); spill ${four.spillBytes} bytes`,
      ];
    });
    process.stdout.write(
      [
        `load average at start ${loadAtStart}, at end ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}; rounds: ${rounds}; medians.`,
        'ours = curl → (TLS) upload proxy → upload server over mTLS or its unix socket, answered after fsync; `cdi image-upload` = the command against `cdi serve`;',
        'nginx = curl → nginx (TLS, WebDAV PUT, body written to a file), without and with a following `sync FILE`.',
        '| case | client → proxy → server | bytes sent | ours s | nginx s | nginx+sync s | ours/nginx | ours/(nginx+sync) | CPU s proxy / server / nginx | spill bytes |',
        '|---|---|---|---|---|---|---|---|---|---|',
        ...rows,
        '',
        ...fourLines,
        `peak RSS over the 2 GiB rounds: upload server ${worstRss.server.toFixed(0)} MiB, upload proxy ${worstRss.proxy.toFixed(0)} MiB`,
        '',
      ].join('\n'),
    );
  }
} finally {
  for (const child of children) child.kill(child === nginx ? 'SIGQUIT' : 'SIGTERM');
  await Promise.all([...children].map(exited));
  await rm(work, { recursive: true, force: true });
  await rm(socketDir, { recursive: true, force: true });
}
