import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { issueCertificate } from '../../src/cluster/pki/certificate.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDockerfile, stageByName, stageConfig } from './support/dockerfile.ts';
import { buildTree } from './support/image-tree.ts';
import { reportedPort } from '../support/ports.ts';
import { WorkerImages } from '../../src/api/images.ts';
import type { WorkerBundleManifest } from '../../src/node/worker-bundle.ts';

/**
 * Builds the images' file tree from docker/Dockerfile without a container engine (same npm
 * install, same COPY lines, same .dockerignore) and starts every target's entry point from it
 * with this Node 24, as UID 107 when the test runs as root, with the tree not writable. What
 * cannot run here: the apt/dpkg/useradd RUN steps of the Node base image (checked statically
 * below) and the image build itself.
 */

const repo = join(import.meta.dirname, '..', '..');
const dockerfileText = readFileSync(join(repo, 'docker', 'Dockerfile'), 'utf8');
const dockerfile = parseDockerfile(dockerfileText);
const targets = dockerfile.stages.filter((s) => s.base === 'runtime').map((s) => s.name!);
const asRoot = process.getuid?.() === 0;

/** Whether a user other than the owner can reach `file` (every directory above it searchable). */
function reachableByOthers(file: string): boolean {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return false;
    if (dir === dirname(dir)) return true;
  }
}

/**
 * The node the entry points run with. UID 107 cannot run this Node when the checkout sits in a
 * private directory (`mktemp -d` makes 0700): then a copy next to the tree is used.
 */
let nodeBin = process.execPath;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(tree: string, argv: string[], env: Record<string, string> = {}) {
  const [node, ...args] = argv;
  if (node !== 'node') throw new Error(`entry point does not run node: ${argv.join(' ')}`);
  const child = spawn(nodeBin, args, {
    cwd: join(tree, 'app'),
    env: { PATH: `${dirname(nodeBin)}:/usr/bin:/bin`, NODE_ENV: 'production', HOME: '/tmp', ...env },
    ...(asRoot ? { uid: 107, gid: 107 } : {}),
  });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d));
  // a process that cannot start reports 'error' and never 'close'
  const exited = new Promise<Run>((resolve) => {
    child.on('close', (code) => resolve({ code, ...out }));
    child.on('error', (err) => resolve({ code: null, stdout: out.stdout, stderr: `${out.stderr}cannot start ${nodeBin}: ${err.message}` }));
  });
  return { child, exited, out };
}

function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).map((e) => `${join(e.parentPath, e.name)}:${e.isFile() ? statSync(join(e.parentPath, e.name)).mtimeMs : 'd'}`);
}

describe('container image file tree (docker/Dockerfile, no engine)', () => {
  let work: string;
  let tree: string;
  let before: string[];

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'cdi-image-'));
    chmodSync(work, 0o755);
    if (asRoot && !reachableByOthers(process.execPath)) {
      mkdirSync(join(work, 'bin'));
      nodeBin = join(work, 'bin', 'node');
      copyFileSync(process.execPath, nodeBin);
      chmodSync(nodeBin, 0o755);
    }
    const build = buildTree(dockerfile, 'runtime', {
      context: repo,
      ignoreText: readFileSync(join(repo, 'docker', 'Dockerfile.dockerignore'), 'utf8'),
      workDir: work,
      cacheDir: join(repo, '.cache', 'image-tree'),
    });
    tree = build.roots.get('runtime')!;
    // read-only root filesystem: nothing in the tree is writable by the image's user
    for (const entry of [tree, ...readdirSync(tree, { recursive: true }).map((p) => join(tree, String(p)))]) {
      const mode = statSync(entry).mode;
      chmodSync(entry, mode & ~0o222);
    }
    before = listing(tree);
  }, 180_000);

  afterAll(() => {
    if (!work) return;
    for (const p of [work, ...readdirSync(work, { recursive: true }).map((p) => join(work, String(p)))]) {
      try {
        if (statSync(p).isDirectory()) chmodSync(p, 0o755);
      } catch {
        // already gone
      }
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('has a Node 24 slim base, a non-root UID 107, tini, xz and no package manager in the final stage', () => {
    expect(dockerfile.args.NODE_IMAGE).toBe('node:24-slim');
    expect(stageByName(dockerfile, 'runtime').base).toBe('scratch');
    const rootfsRuns = stageByName(dockerfile, 'rootfs').instructions.filter((i) => i.keyword === 'RUN').map((i) => i.rest).join(' ');
    expect(rootfsRuns).toMatch(/apt-get install .*\btini\b/);
    expect(rootfsRuns).toMatch(/apt-get install .*\bxz-utils\b/);
    expect(rootfsRuns).toMatch(/dpkg --purge .*\bapt\b/);
    expect(rootfsRuns).toMatch(/rm -rf \/usr\/bin\/dpkg /);
    expect(rootfsRuns).toMatch(/rm -rf \/usr\/local\/lib\/node_modules\/npm /);
    expect(rootfsRuns).toMatch(/--uid 107 --gid 107/);
    // compilers never enter: the only install is tini, xz-utils and CA certificates
    expect(rootfsRuns).not.toMatch(/\b(gcc|g\+\+|make|build-essential|python3)\b/);
    expect(targets.sort()).toEqual(['cloner', 'controller', 'importer', 'token-api', 'uploadproxy', 'uploadserver']);
    for (const target of targets) {
      const config = stageConfig(dockerfile, target);
      expect(config.user).toBe('107:107');
      expect(config.entrypoint.slice(0, 3)).toEqual(['/usr/bin/tini', '--', 'node']);
      expect(config.healthcheck?.slice(0, 2)).toEqual(['node', 'src/cluster/healthcheck.ts']);
      // targets only choose an entry point; the file tree is the runtime stage's
      expect(stageByName(dockerfile, target).instructions.filter((i) => ['COPY', 'RUN', 'ADD'].includes(i.keyword))).toEqual([]);
    }
  });

  it('holds production dependencies only, and no tests', () => {
    const modules = join(tree, 'app', 'node_modules');
    expect(existsSync(join(modules, 'fastify'))).toBe(true);
    expect(existsSync(join(modules, '@kubernetes', 'client-node'))).toBe(true);
    for (const dev of ['vitest', 'typescript', 'eslint', 's3rver']) expect(existsSync(join(modules, dev)), dev).toBe(false);
    const files = readdirSync(join(tree, 'app'), { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith('.test.ts') && !f.startsWith('node_modules'))).toEqual([]);
    expect(existsSync(join(tree, 'app', 'test'))).toBe(false);
  });

  it.each(targets)('%s: the entry point and its health check script are in the tree', (target) => {
    const config = stageConfig(dockerfile, target);
    expect(existsSync(join(tree, 'app', config.cmd[0]!)), config.cmd[0]).toBe(true);
    expect(existsSync(join(tree, 'app', config.healthcheck![1]!))).toBe(true);
  });

  const dataPathTargets = { importer: WorkerImages.importer, uploadserver: WorkerImages.uploadServer, cloner: WorkerImages.cloner };

  it.each(Object.entries(dataPathTargets))('%s runs the worker bundle the image build made from its entry (ADR 0032)', (target, image) => {
    const manifest = JSON.parse(readFileSync(join(tree, 'app', 'dist', 'workers', 'manifest.json'), 'utf8')) as WorkerBundleManifest;
    const bundle = manifest.bundles[image.entry];
    expect(bundle, image.entry).toBeDefined();
    expect(stageConfig(dockerfile, target).cmd).toEqual([`dist/workers/${bundle!.file}`]);
    expect(statSync(join(tree, 'app', 'dist', 'workers', bundle!.file)).size).toBe(bundle!.size);
    expect(Object.keys(bundle!.inputs)).toContain(image.entry);
    // the data-path flags stay where a pod's args cannot drop them
    expect(stageConfig(dockerfile, target).entrypoint).toEqual(['/usr/bin/tini', '--', 'node', '--max-semi-space-size=2', '--initial-old-space-size=64']);
  });

  it('builds the bundles with the dev dependencies in a stage of its own; only dist/workers reaches the runtime', () => {
    expect(stageByName(dockerfile, 'bundles').instructions.filter((i) => i.keyword === 'RUN').map((i) => i.rest)).toEqual([
      'npm ci --ignore-scripts --no-audit --no-fund',
      'node scripts/build-workers.ts',
    ]);
    const fromBundles = dockerfile.stages.flatMap((s) => s.instructions).filter((i) => i.flags.from === 'bundles').map((i) => i.rest);
    expect(fromBundles).toEqual(['/app/dist/workers ./dist/workers']);
    expect(existsSync(join(tree, 'app', 'scripts'))).toBe(false);
  });

  it.each(['controller', 'token-api', 'uploadproxy'])('%s starts from the tree (--help loads its whole module graph)', async (target) => {
    const config = stageConfig(dockerfile, target);
    const run = await start(tree, [...config.entrypoint.slice(2), ...config.cmd, '--help']).exited;
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: cdi-/);
  });

  /** A directory the image's user may write, standing in for the volume mounted at /data. */
  function volumeDir(): string {
    const dir = join(work, `volume-${randomBytes(4).toString('hex')}`);
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    return dir;
  }

  it('importer runs an xz-compressed HTTP import from the tree and leaves its termination message', async () => {
    const raw = Buffer.concat([randomBytes(512 * 1024), Buffer.alloc(512 * 1024)]);
    const xz = execFileSync('xz', ['-c', '-6'], { input: raw });
    const server = createHttpServer((_req, res) => res.end(xz));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const volume = volumeDir();
      const config = stageConfig(dockerfile, 'importer');
      const run = await start(tree, [...config.entrypoint.slice(2), ...config.cmd], {
        IMPORTER_SOURCE: 'http',
        IMPORTER_ENDPOINT: `http://127.0.0.1:${(server.address() as AddressInfo).port}/disk.raw.xz`,
        IMPORTER_CONTENTTYPE: 'kubevirt',
        IMPORTER_IMAGE_SIZE: '1Mi',
        CDI_TARGET_PATH: join(volume, 'disk.img'),
        CDI_TERMINATION_LOG: join(volume, 'termination-log'),
        CDI_LISTEN_PORT: '0',
      }).exited;
      expect(run.code, run.stderr + run.stdout).toBe(0);
      const written = readFileSync(join(volume, 'disk.img'));
      expect(createHash('sha256').update(written).digest('hex')).toBe(createHash('sha256').update(raw).digest('hex'));
      expect(readFileSync(join(volume, 'termination-log'), 'utf8')).toContain('Import Complete');
    } finally {
      server.close();
    }
  });

  it('uploadserver starts from the tree over TLS, passes its HEALTHCHECK and handles SIGTERM itself', async () => {
    const now = new Date();
    const life = { notBefore: now, notAfter: new Date(now.getTime() + 3_600_000) };
    const ca = issueCertificate({ commonName: 'cdi-uploadserver-signer@1', usage: 'ca', ...life });
    const serving = issueCertificate({ commonName: 'cdi-upload-disk.default.svc', usage: 'server', hostnames: ['127.0.0.1'], ...life }, ca);
    const volume = volumeDir();
    const config = stageConfig(dockerfile, 'uploadserver');
    const server = start(tree, [...config.entrypoint.slice(2), ...config.cmd], {
      TLS_KEY: serving.keyPem,
      TLS_CERT: serving.certPem,
      CLIENT_CERT: ca.certPem,
      CLIENT_NAME: 'client.upload-server.cdi.kubevirt.io',
      UPLOAD_IMAGE_SIZE: '1Mi',
      CDI_TARGET_PATH: join(volume, 'disk.img'),
      CDI_TERMINATION_LOG: join(volume, 'termination-log'),
      CDI_LISTEN_PORT: '0',
    });
    try {
      const port = await reportedPort(server.child.stdout, 'upload server listening').catch((err: Error) => {
        throw new Error(`${err.message}:\n${server.out.stderr}${server.out.stdout}`);
      });
      const healthUrl = config.healthcheck![2]!.replace(':8443/', `:${port}/`);
      const health = await start(tree, [...config.healthcheck!.slice(0, 2), healthUrl]).exited;
      expect(health.code, server.out.stderr + server.out.stdout + health.stderr).toBe(0);
    } finally {
      server.child.kill('SIGTERM');
    }
    // node itself handled the signal (an exit code, not death by signal); an interrupted upload exits 1 by design
    expect((await server.exited).code).not.toBeNull();
  });

  it('cloner streams a source volume from the tree to an upload server over mutual TLS', async () => {
    const now = new Date();
    const life = { notBefore: now, notAfter: new Date(now.getTime() + 3_600_000) };
    const serverCa = issueCertificate({ commonName: 'cdi-uploadserver-signer@1', usage: 'ca', ...life });
    const clientCa = issueCertificate({ commonName: 'cdi-uploadserver-client-signer@1', usage: 'ca', ...life });
    const serving = issueCertificate({ commonName: 'cdi-upload-target.default.svc', usage: 'server', hostnames: ['127.0.0.1'], ...life }, serverCa);
    const client = issueCertificate({ commonName: 'default/source-default/target', usage: 'client', ...life }, clientCa);
    const received: Buffer[] = [];
    const server = createHttpsServer({ cert: serving.certPem, key: serving.keyPem, ca: clientCa.certPem, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      req.on('data', (c: Buffer) => received.push(c));
      req.on('end', () => res.end());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const volume = volumeDir();
      const source = Buffer.concat([randomBytes(300_000), Buffer.alloc(200_000)]);
      writeFileSync(join(volume, 'disk.img'), source);
      const config = stageConfig(dockerfile, 'cloner');
      const run = await start(tree, [...config.entrypoint.slice(2), ...config.cmd], {
        SOURCE_PATH: join(volume, 'disk.img'),
        UPLOAD_URL: `https://127.0.0.1:${(server.address() as AddressInfo).port}/v1beta1/upload`,
        CLIENT_KEY: client.keyPem,
        CLIENT_CERT: client.certPem,
        SERVER_CA_CERT: serverCa.certPem,
        CDI_TERMINATION_LOG: join(volume, 'termination-log'),
        CDI_LISTEN_PORT: '0',
      }).exited;
      expect(run.code, run.stderr + run.stdout).toBe(0);
      expect(Buffer.concat(received).equals(source)).toBe(true);
      expect(readFileSync(join(volume, 'termination-log'), 'utf8')).toContain('Clone Complete');
    } finally {
      server.close();
    }
  });

  it('the health check script runs from the tree and reports an unreachable server', async () => {
    const config = stageConfig(dockerfile, 'controller');
    const run = await start(tree, [...config.healthcheck!.slice(0, 2), 'http://127.0.0.1:9/healthz']).exited;
    expect(run.code).toBe(1);
  });

  it('nothing was written into the tree', () => {
    expect(listing(tree)).toEqual(before);
  });
});

