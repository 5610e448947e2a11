import { execFile, spawn } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, importPKCS8 } from 'jose';
import type { CertFiles } from './certs.ts';
import { freePort, waitForPort } from './ports.ts';

const run = promisify(execFile);

export type RegistryAuth =
  | { kind: 'none' }
  /** htpasswd (bcrypt via `htpasswd -Bbn`): the registry answers `Basic` challenges. */
  | { kind: 'htpasswd'; user: string; password: string }
  /** A token server of ours signs JWTs the registry trusts: `Bearer` challenges. */
  | { kind: 'token'; user?: string; password?: string };

export interface RegistryOptions {
  auth?: RegistryAuth;
  /** Serve TLS with this server certificate (and CA) instead of plain HTTP. */
  certs?: CertFiles;
}

export interface Registry {
  /** host:port, as docker:// URLs want it. */
  host: string;
  /** Pushes an OCI layout (`oci:<dir>:<tag>`) as `<repo>:<tag>`; `format: 'v2s2'` converts to Docker schema 2. */
  push(layout: string, tag: string, repo: string, options?: { format?: 'v2s2' | 'oci'; all?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

interface TokenServer {
  realm: string;
  close(): Promise<void>;
}

/** A Docker token endpoint: grants what is asked to anonymous callers, or only to user:password when set. */
async function startTokenServer(certs: CertFiles, service: string, user?: string, password?: string): Promise<TokenServer> {
  const key = await importPKCS8(await readFile(certs.caKey, 'utf8'), 'RS256');
  const x5c = [Buffer.from(new X509Certificate(certs.caPem).raw).toString('base64')];
  const expected = user ? `Basic ${Buffer.from(`${user}:${password ?? ''}`).toString('base64')}` : undefined;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (expected && req.headers.authorization !== expected) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"incorrect username or password"}');
      return;
    }
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type = '', name = '', actions = ''] = scope.split(':');
      return { type, name, actions: actions.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    new SignJWT({ access })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', x5c })
      .setIssuer('cdi-test-issuer').setSubject(user ?? 'anonymous').setAudience(service)
      .setIssuedAt(now - 10).setNotBefore(now - 10).setExpirationTime(now + 300).setJti(String(Math.random()))
      .sign(key)
      .then((token) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, expires_in: 300 })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { realm: `http://127.0.0.1:${port}/token`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
}

/** Debian's docker-registry (distribution 2.8) on an ephemeral port with its own storage. */
export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const auth = options.auth ?? { kind: 'none' };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cdi-registry-'));
  const port = await freePort();
  const lines = ['version: 0.1', 'log: { level: error, accesslog: { disabled: true } }', 'storage:', `  filesystem: { rootdirectory: ${dir}/data }`,
    '  delete: { enabled: true }', 'http:', `  addr: 127.0.0.1:${port}`, '  secret: cdi-test'];
  if (options.certs) lines.push(`  tls: { certificate: ${options.certs.serverCert}, key: ${options.certs.serverKey} }`);
  let token: TokenServer | undefined;
  if (auth.kind === 'htpasswd') {
    const { stdout } = await run('htpasswd', ['-Bbn', auth.user, auth.password]);
    await writeFile(path.join(dir, 'htpasswd'), stdout);
    lines.push('auth:', `  htpasswd: { realm: cdi-test, path: ${dir}/htpasswd }`);
  } else if (auth.kind === 'token') {
    if (!options.certs) throw new Error('token auth needs certs (the CA key signs the tokens)');
    token = await startTokenServer(options.certs, 'cdi-test-registry', auth.user, auth.password);
    lines.push('auth:', `  token: { realm: "${token.realm}", service: cdi-test-registry, issuer: cdi-test-issuer, rootcertbundle: ${options.certs.caCert} }`);
  }
  await writeFile(path.join(dir, 'config.yml'), `${lines.join('\n')}\n`);
  const child = spawn('docker-registry', ['serve', path.join(dir, 'config.yml')], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port);
  const host = `127.0.0.1:${port}`;
  const certDir = options.certs ? path.join(dir, 'client-certs') : undefined;
  if (certDir && options.certs) {
    await mkdir(certDir);
    await writeFile(path.join(certDir, 'ca.crt'), options.certs.caPem);
  }
  const creds = auth.kind === 'htpasswd' || (auth.kind === 'token' && auth.user) ? ['--dest-creds', `${auth.user}:${auth.password}`] : [];
  return {
    host,
    async push(layout, tag, repo, pushOptions = {}) {
      const tls = certDir ? ['--dest-cert-dir', certDir] : ['--dest-tls-verify=false'];
      const format = pushOptions.format ? ['--format', pushOptions.format] : [];
      await run('skopeo', ['copy', '-q', ...(pushOptions.all ? ['--all'] : []), ...format, ...tls, ...creds, `oci:${layout}:${tag}`, `docker://${host}/${repo}:${tag}`]);
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killer);
      }
      await token?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface LayerSpec {
  /** Files of the layer: tar entry name → local file to copy, or text content, or 'whiteout'. */
  files: Record<string, { file: string } | { text: string }>;
  compression: 'gzip' | 'zstd' | 'none';
}

export interface ImageSpec {
  layers: LayerSpec[];
  architecture?: string;
  env?: string[];
}

const layerMediaType = { gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd', none: 'application/vnd.oci.image.layer.v1.tar' };

async function addBlob(layout: string, bytes: Buffer): Promise<{ digest: string; size: number }> {
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(path.join(layout, 'blobs', 'sha256', hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.byteLength };
}

async function buildLayer(work: string, layer: LayerSpec): Promise<{ tar: Buffer; blob: Buffer }> {
  const root = await mkdtemp(path.join(work, 'rootfs-'));
  const names = Object.keys(layer.files);
  for (const [name, source] of Object.entries(layer.files)) {
    const dest = path.join(root, name);
    await mkdir(path.dirname(dest), { recursive: true });
    if ('file' in source) await run('cp', [source.file, dest]);
    else await writeFile(dest, source.text);
  }
  const tarFile = `${root}.tar`;
  await run('tar', ['--owner=107', '--group=107', '--numeric-owner', '-C', root, '-cf', tarFile, ...names]);
  const tar = await readFile(tarFile);
  const compressor = layer.compression === 'gzip' ? ['gzip', '-n', '-c'] : layer.compression === 'zstd' ? ['zstd', '-q', '-c'] : undefined;
  const blob = compressor ? (await run(compressor[0]!, [...compressor.slice(1), tarFile], { encoding: 'buffer', maxBuffer: 1 << 30 })).stdout : tar;
  return { tar, blob };
}

/** Writes one image (config, layers, manifest) into an OCI layout; returns its manifest descriptor. */
async function writeImage(layout: string, work: string, spec: ImageSpec): Promise<{ digest: string; size: number; architecture: string }> {
  const layers = [];
  const diffIds = [];
  for (const layer of spec.layers) {
    const { tar, blob } = await buildLayer(work, layer);
    diffIds.push(`sha256:${createHash('sha256').update(tar).digest('hex')}`);
    layers.push({ mediaType: layerMediaType[layer.compression], ...(await addBlob(layout, blob)) });
  }
  const architecture = spec.architecture ?? 'amd64';
  const config = Buffer.from(JSON.stringify({ architecture, os: 'linux', config: { Env: spec.env ?? [] }, rootfs: { type: 'layers', diff_ids: diffIds } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await addBlob(layout, config)) },
    layers,
  }));
  return { ...(await addBlob(layout, manifest)), architecture };
}

/**
 * Builds an OCI image layout by hand (no daemon): one image, or an index over several
 * architectures when given more than one spec. Tagged `tag` in index.json for skopeo.
 */
export async function buildOciLayout(dir: string, tag: string, specs: ImageSpec[]): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), 'cdi-oci-'));
  try {
    const images = [];
    for (const spec of specs) images.push(await writeImage(dir, work, spec));
    let top: { mediaType: string; digest: string; size: number };
    if (images.length === 1) {
      top = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: images[0]!.digest, size: images[0]!.size };
    } else {
      const index = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: images.map((i) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: i.digest, size: i.size, platform: { architecture: i.architecture, os: 'linux' } })),
      }));
      top = { mediaType: 'application/vnd.oci.image.index.v1+json', ...(await addBlob(dir, index)) };
    }
    await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(path.join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }));
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A one-layer containerDisk layout for a large disk file, without holding it in memory:
 * tar + pigz + sha256sum on disk (benchmarks).
 */
export async function buildOciLayoutFromFile(dir: string, tag: string, disk: string, entry: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  const blobs = path.join(dir, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), 'cdi-oci-'));
  try {
    await mkdir(path.join(work, 'rootfs', path.dirname(entry)), { recursive: true });
    await run('ln', [disk, path.join(work, 'rootfs', entry)]).catch(() => run('cp', [disk, path.join(work, 'rootfs', entry)]));
    const tarFile = path.join(work, 'layer.tar');
    await run('tar', ['--owner=107', '--group=107', '--numeric-owner', '-C', path.join(work, 'rootfs'), '-cf', tarFile, entry.split('/')[0]!]);
    await run('sh', ['-c', `pigz -n -c ${tarFile} > ${tarFile}.gz`]);
    const sha = async (f: string): Promise<string> => (await run('sha256sum', [f])).stdout.split(' ')[0]!;
    const diffId = await sha(tarFile);
    const layerHex = await sha(`${tarFile}.gz`);
    const { size } = await stat(`${tarFile}.gz`);
    await run('mv', [`${tarFile}.gz`, path.join(blobs, layerHex)]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${diffId}`] } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...(await addBlob(dir, config)) },
      layers: [{ mediaType: layerMediaType.gzip, digest: `sha256:${layerHex}`, size }],
    }));
    const top = await addBlob(dir, manifest);
    await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(path.join(dir, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
    }));
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
