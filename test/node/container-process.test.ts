import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.ts';
import { silentLogger } from '../../src/api/logger.ts';
import { killOrphan, startContainer } from '../../src/node/container-process.ts';
import type { ContainerPlan } from '../../src/node/pod-plan.ts';
import { privilegesFor, type Privileges } from '../../src/node/worker-privileges.ts';

const fixture = path.join(import.meta.dirname, 'fixtures/behave.mjs');
/** Root, and uid 107 can read this checkout and Node (not so under a 0700 directory): the agent would drop to it. */
const canDropTo107 = (await privilegesFor({ uid: 107, gid: 107, groups: [] }, os.tmpdir())).mode === 'drop';
let dir: string;

beforeAll(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'cdi-node-proc-'));
});
afterAll(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true });
});

function plan(name: string, behave: string, extra: Partial<ContainerPlan> = {}): ContainerPlan {
  const termLog = path.join(dir, `${name}.termination-log`);
  return {
    name,
    kind: 'importer',
    entry: fixture,
    args: [],
    env: { BEHAVE: behave, CDI_TERMINATION_LOG: termLog, CDI_TARGET_PATH: path.join(dir, `${name}.img`) },
    terminationLogPath: termLog,
    fallbackToLogsOnError: true,
    user: { uid: 107, gid: 107, groups: [] },
    ...extra,
  };
}

function start(p: ContainerPlan, privileges: Privileges = { mode: 'unprivileged', why: 'test' }) {
  return startContainer({
    plan: p,
    logPath: path.join(dir, `${p.name}.log`),
    previousLogPath: path.join(dir, `${p.name}.previous.log`),
    pidPath: path.join(dir, `${p.name}.pid`),
    workDir: dir,
    tmpDir: path.join(dir, `${p.name}-tmp`),
    compileCacheRoot: (uid) => path.join(dir, 'cache', String(uid)),
    privileges,
    logger: silentLogger,
  });
}

/** Uid, CapEff and NoNewPrivs of the fixture process, from the /proc/self/status it reported. */
function processFacts(status: string): { uid: string; gid: string; capEff: string; noNewPrivs: string } {
  const field = (name: string) => new RegExp(`^${name}:\\s*(\\S+)`, 'm').exec(status)?.[1] ?? '';
  return { uid: field('Uid'), gid: field('Gid'), capEff: field('CapEff'), noNewPrivs: field('NoNewPrivs') };
}

describe('container processes', () => {
  it('enforces the volume capacity: a write past it fails with EFBIG and nothing grows beyond it', async () => {
    const limit = 1 << 20;
    const proc = await start(plan('full', 'write-past-limit', { fileSizeLimit: limit }));
    const t = await proc.exited;
    expect(t).toMatchObject({ exitCode: 1, reason: 'Error', message: `EFBIG after ${limit} bytes` });
    expect((await fs.promises.stat(path.join(dir, 'full.img'))).size).toBe(limit);
  });

  it('reports exit 0 with the termination log as the message and logs to the log file', async () => {
    const proc = await start(plan('ok', 'succeed-with-message'));
    expect(fs.existsSync(path.join(dir, 'ok.pid'))).toBe(true);
    const t = await proc.exited;
    expect(t).toMatchObject({ exitCode: 0, reason: 'Completed', message: '{"message":"Import Complete"}' });
    expect(await fs.promises.readFile(path.join(dir, 'ok.log'), 'utf8')).toBe('working\n');
    expect(fs.existsSync(path.join(dir, 'ok.pid'))).toBe(false);
  });

  it('falls back to the tail of the log (80 lines at most) when the termination log is empty and the exit is not 0', async () => {
    const t = await (await start(plan('fail', 'fail-with-log'))).exited;
    expect(t.exitCode).toBe(2);
    const lines = t.message?.split('\n') ?? [];
    expect(lines).toHaveLength(80);
    expect(lines.at(-1)).toBe('Unable to connect to http data source: boom');
    expect(lines[0]).toBe('line 22');

    const noFallback = await (await start(plan('fail2', 'fail-with-log', { fallbackToLogsOnError: false }))).exited;
    expect(noFallback.message).toBeUndefined();
  });

  it('keeps the previous run log when a container restarts', async () => {
    await (await start(plan('again', 'succeed-with-message'))).exited;
    await fs.promises.appendFile(path.join(dir, 'again.log'), 'first run\n');
    await (await start(plan('again', 'succeed-with-message'))).exited;
    expect(await fs.promises.readFile(path.join(dir, 'again.previous.log'), 'utf8')).toBe('working\nfirst run\n');
    expect(await fs.promises.readFile(path.join(dir, 'again.log'), 'utf8')).toBe('working\n');
  });

  it('stops with SIGTERM, then SIGKILL after the grace period', async () => {
    const proc = await start(plan('stubborn', 'ignore-sigterm'));
    await eventually(async () => (await fs.promises.readFile(path.join(dir, 'stubborn.log'), 'utf8')).includes('ready'), 'stubborn.log to say ready');
    await proc.stop(300);
    const t = await proc.exited;
    expect(t).toMatchObject({ exitCode: 137, signal: 9 });
    expect(await fs.promises.readFile(path.join(dir, 'stubborn.log'), 'utf8')).toContain('ignoring SIGTERM');
  });

  it('as root, runs the worker as the pod user 107 with no capabilities and no_new_privs, its volume and tmp its own (when uid 107 can read the checkout)', async (ctx) => {
    ctx.skip(!canDropTo107, 'this machine cannot drop to uid 107 here (not root, or uid 107 cannot read the checkout or Node)');
    await fs.promises.chmod(dir, 0o711);
    const target = path.join(dir, 'vol-107');
    await fs.promises.mkdir(target);
    await fs.promises.chown(target, 107, 107);
    const p = plan('dropped', 'report-status', { env: { BEHAVE: 'report-status', CDI_TERMINATION_LOG: path.join(dir, 'dropped.termination-log'), CDI_TARGET_PATH: path.join(target, 'disk.img') } });
    const t = await (await start(p, { mode: 'drop', user: { uid: 107, gid: 107, groups: [] } })).exited;
    expect(t.exitCode, t.message).toBe(0);
    const facts = processFacts(t.message ?? '');
    expect(facts).toEqual({ uid: '107', gid: '107', capEff: '0000000000000000', noNewPrivs: '1' });
    expect((await fs.promises.stat(path.join(target, 'disk.img'))).uid).toBe(107);
    expect((await fs.promises.stat(path.join(dir, 'dropped-tmp'))).uid).toBe(107);
    expect((await fs.promises.stat(path.join(dir, 'cache', '107'))).uid).toBe(107);
  });

  it('turns a memory limit into RLIMIT_AS and a V8 heap cap: a worker that keeps allocating fails instead of growing', async () => {
    const p = plan('greedy', 'allocate', { memoryLimit: 64 * 2 ** 20 });
    const t = await (await start(p)).exited;
    expect(t.exitCode).not.toBe(0);
    const limits = await fs.promises.readFile(path.join(dir, 'greedy.log'), 'utf8');
    expect(limits).toMatch(/max-old-space-size=32\b/);
  });

  it('kills an orphan named by a pid file only while it is the same process', async () => {
    const child = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((r) => child.once('spawn', r));
    const stat = await fs.promises.readFile(`/proc/${child.pid}/stat`, 'utf8');
    const ticks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const pidPath = path.join(dir, 'orphan.pid');
    const exited = new Promise((r) => child.once('exit', (_code, signal) => r(signal)));

    await fs.promises.writeFile(pidPath, JSON.stringify({ pid: child.pid, startTicks: 'not-this-process' }));
    expect(await killOrphan(pidPath, silentLogger)).toBe(false);
    expect(fs.existsSync(pidPath)).toBe(false);

    await fs.promises.writeFile(pidPath, JSON.stringify({ pid: child.pid, startTicks: ticks }));
    expect(await killOrphan(pidPath, silentLogger)).toBe(true);
    expect(await exited).toBe('SIGKILL');
  });
});

