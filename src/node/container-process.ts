import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../api/logger.ts';
import { dataPathNodeFlags } from '../api/runtime.ts';
import type { ContainerPlan } from './pod-plan.ts';
import { nowRfc3339, type Terminated } from './pod-status.ts';
import { findTool } from './tools.ts';
import { runnableEntry } from './worker-bundle.ts';
import { setprivArgs, type Privileges } from './worker-privileges.ts';

/**
 * Address space Node reserves and never touches (it will not start under ~1.1 GiB of
 * RLIMIT_AS): a memory limit becomes RLIMIT_AS = limit + this, and a V8 heap cap of half the
 * limit, so a runaway worker fails with an allocation error instead of taking the machine.
 */
const runtimeReservationBytes = 1.5 * 2 ** 30;

/** Kubelet limits: the termination message file is read up to 4096 bytes, the log tail to 80 lines / 2048 bytes. */
const maxTerminationMessage = 4096;
const fallbackLogLines = 80;
const fallbackLogBytes = 2048;

export interface ContainerProcessOptions {
  plan: ContainerPlan;
  logPath: string;
  previousLogPath: string;
  pidPath: string;
  /** The pod's directory (cwd; the agent's files, not writable by the worker). */
  workDir: string;
  /** The worker's HOME and TMPDIR. */
  tmpDir: string;
  /** Node's compile cache for a worker user id. */
  compileCacheRoot: (uid: number) => string;
  privileges: Privileges;
  logger: Logger;
}

export interface RunningContainer {
  pid: number;
  startedAt: string;
  exited: Promise<Terminated>;
  /** SIGTERM, then SIGKILL once `graceMs` has passed; resolves when the process is gone. */
  stop(graceMs: number): Promise<void>;
}

/**
 * Starts one container as a child process of this Node. The process runs under setpriv (the
 * pod's user with no capabilities and no_new_privs when the agent is root, see
 * worker-privileges.ts; `--pdeathsig KILL` always, so it dies with the agent instead of
 * lingering) and prlimit: `--fsize=<capacity>` is how a volume's capacity is enforced (a write
 * past it fails with EFBIG as a full disk fails with ENOSPC), `--as` how a memory limit is.
 * Its environment is built here from scratch: the plan's checked variables and nothing of the
 * agent's but PATH and LOG_LEVEL. Output goes to the log file the API server's pod /log serves;
 * the pid file lets a restarted agent find and kill an orphan.
 */
export async function startContainer(opts: ContainerProcessOptions): Promise<RunningContainer> {
  const { plan } = opts;
  const { privileges } = opts;
  const owner = privileges.mode === 'drop' ? privileges.user : undefined;
  await fs.promises.mkdir(path.dirname(opts.logPath), { recursive: true });
  await fs.promises.mkdir(opts.tmpDir, { recursive: true, mode: 0o700 });
  const compileCache = opts.compileCacheRoot(owner?.uid ?? process.getuid?.() ?? 0);
  await fs.promises.mkdir(compileCache, { recursive: true, mode: 0o700 });
  // a first start has no log to keep as the previous one
  await fs.promises.rename(opts.logPath, opts.previousLogPath).catch(() => {});
  await fs.promises.writeFile(plan.terminationLogPath, '', { mode: 0o600 });
  if (owner) {
    for (const p of [opts.tmpDir, compileCache, plan.terminationLogPath]) await fs.promises.chown(p, owner.uid, owner.gid);
  }

  const heapFlags = plan.memoryLimit !== undefined ? [`--max-old-space-size=${Math.max(16, Math.floor(plan.memoryLimit / 2 / 2 ** 20))}`] : [];
  // A shell entry (the launcher's console follower) runs without a Node runtime; a worker runs
  // its fresh bundle when there is one (docs/adr/0032), else its source.
  const shell = plan.entry.endsWith('.sh');
  const entry = shell ? plan.entry : await runnableEntry(plan.entry, opts.logger);
  const argv = shell ? ['/bin/sh', entry, ...plan.args] : [process.execPath, '--disable-warning=ExperimentalWarning', ...dataPathNodeFlags, ...heapFlags, entry, ...plan.args];
  const limits = [
    ...(plan.fileSizeLimit !== undefined ? [`--fsize=${plan.fileSizeLimit}`] : []),
    ...(plan.memoryLimit !== undefined ? [`--as=${plan.memoryLimit + runtimeReservationBytes}`] : []),
  ];
  const prlimit = limits.length ? await findTool('prlimit') : undefined;
  if (prlimit) argv.unshift(prlimit, ...limits, '--');
  const setpriv = await findTool('setpriv');
  if (setpriv) argv.unshift(setpriv, ...setprivArgs(privileges));
  else if (privileges.mode !== 'unprivileged') throw new Error('setpriv (util-linux) is not installed: the node agent will not run a worker as root');

  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: opts.tmpDir,
    TMPDIR: opts.tmpDir,
    // One compile cache per worker user: a warm start skips type stripping and compiling (ADR 0016).
    NODE_COMPILE_CACHE: compileCache,
    ...(process.env.LOG_LEVEL ? { LOG_LEVEL: process.env.LOG_LEVEL } : {}),
    ...plan.env,
  };
  const log = fs.createWriteStream(opts.logPath, { flags: 'a', mode: 0o640 });
  await new Promise<void>((resolve, reject) => log.once('open', () => resolve()).once('error', reject));
  const [cmd = process.execPath, ...args] = argv;
  // Its own process group: Ctrl-C on `cdi serve`'s terminal reaches serve, which stops pods in order.
  const child = spawn(cmd, args, { env, cwd: opts.workDir, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const startedAt = nowRfc3339();
  // Listen for the exit before any await: a worker that finishes quickly (a blank import) can
  // exit while the pid file is written, and a missed 'exit' left its pod Running forever.
  const exit = waitExit(child);
  const spawned = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawned) {
    log.end(`cannot start ${cmd}: ${spawned.message}\n`);
    const message = `failed to start container process: ${spawned.message}`;
    return { pid: 0, startedAt, exited: Promise.resolve({ exitCode: 128, reason: 'StartError', message, startedAt, finishedAt: startedAt }), stop: async () => {} };
  }
  const pid = child.pid ?? 0;
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  await writePidFile(opts.pidPath, pid);
  opts.logger.info({ pid, entry, limits, privileges: privileges.mode, uid: owner?.uid }, 'container started');

  const exited = exit.then(async ({ code, signal }) => {
    await Promise.all([drain(child.stdout), drain(child.stderr)]);
    await new Promise<void>((resolve) => log.end(resolve));
    await fs.promises.rm(opts.pidPath, { force: true });
    const signum = signal ? osConstants.signals[signal] : undefined;
    const exitCode = code ?? 128 + (signum ?? 0);
    const message = await terminationMessage(plan, opts.logPath, exitCode);
    const t: Terminated = {
      exitCode,
      ...(signum !== undefined ? { signal: signum } : {}),
      reason: exitCode === 0 ? 'Completed' : 'Error',
      ...(message ? { message } : {}),
      startedAt,
      finishedAt: nowRfc3339(),
    };
    return t;
  });

  const stop = async (graceMs: number): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(0, graceMs));
    await exited.catch(() => {}); // whoever awaits `exited` hears how it ended; stop only waits for it
    clearTimeout(timer);
  };
  return { pid, startedAt, exited, stop };
}

function waitExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

function drain(stream: NodeJS.ReadableStream | null): Promise<void> {
  const state = stream as { readableEnded?: boolean; destroyed?: boolean } | null;
  if (!stream || state?.readableEnded || state?.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
  });
}

/** The termination message as the kubelet reads it (FallbackToLogsOnError: the log's tail). */
export async function terminationMessage(plan: Pick<ContainerPlan, 'terminationLogPath' | 'fallbackToLogsOnError'>, logPath: string, exitCode: number): Promise<string> {
  const fromFile = await readHead(plan.terminationLogPath, maxTerminationMessage);
  if (fromFile.trim() !== '' || !plan.fallbackToLogsOnError || exitCode === 0) return fromFile;
  const tail = await readTail(logPath, fallbackLogBytes);
  return tail.split('\n').slice(-fallbackLogLines).join('\n');
}

async function readHead(file: string, max: number): Promise<string> {
  const fh = await fs.promises.open(file, 'r').catch(() => undefined);
  if (!fh) return '';
  try {
    const buf = Buffer.alloc(max);
    const { bytesRead } = await fh.read(buf, 0, max, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

async function readTail(file: string, max: number): Promise<string> {
  const fh = await fs.promises.open(file, 'r').catch(() => undefined);
  if (!fh) return '';
  try {
    const { size } = await fh.stat();
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    await fh.read(buf, 0, len, size - len);
    return buf.toString('utf8').replace(/\n+$/, '');
  } finally {
    await fh.close();
  }
}

interface PidRecord {
  pid: number;
  startTicks: string;
}

async function writePidFile(pidPath: string, pid: number): Promise<void> {
  const rec: PidRecord = { pid, startTicks: (await processStartTicks(pid)) ?? '' };
  await fs.promises.writeFile(pidPath, JSON.stringify(rec));
}

/** Field 22 of /proc/<pid>/stat: tells a live orphan apart from a reused pid. */
async function processStartTicks(pid: number): Promise<string | undefined> {
  const stat = await fs.promises.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (!stat) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/** Kills the process a pid file names if it is still the same process; removes the file. */
export async function killOrphan(pidPath: string, logger: Logger): Promise<boolean> {
  const raw = await fs.promises.readFile(pidPath, 'utf8').catch(() => undefined);
  if (raw === undefined) return false;
  await fs.promises.rm(pidPath, { force: true });
  let rec: PidRecord;
  try {
    rec = JSON.parse(raw) as PidRecord;
  } catch {
    return false; // half written by an agent that died mid-write: it names no process to trust
  }
  const ticks = await processStartTicks(rec.pid);
  if (ticks === undefined || ticks !== rec.startTicks) return false;
  try {
    process.kill(rec.pid, 'SIGKILL');
    logger.warn({ pid: rec.pid, pidPath }, 'killed orphan container process of a previous agent');
    return true;
  } catch {
    return false; // it exited between the check and the kill
  }
}
