import fs from 'node:fs';
import path from 'node:path';
import type { WorkerUser } from './pod-plan.ts';

/**
 * How a worker process gives up what the node agent has. As root: setpriv switches to the pod's
 * user and groups, clears every capability set and sets no_new_privs, so the worker holds
 * exactly what its pod spec asks for (runAsUser, no capabilities, no privilege escalation).
 * Not as root there is nothing to switch to: the worker runs as the agent's user, with
 * no_new_privs, and the pod is told so.
 */
export type Privileges =
  | { mode: 'drop'; user: WorkerUser }
  /** Root could not reach the data dir as the pod's user: stays uid 0, but with no capability. */
  | { mode: 'root-without-capabilities'; why: string }
  | { mode: 'unprivileged'; why: string };

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** The product's files and Node itself: a worker must be able to read them as its own user. */
const productRoot = path.resolve(import.meta.dirname, '../..');

/** What to run a pod's container as, and the message its pod gets when that is not its user. */
export async function privilegesFor(user: WorkerUser, dataDir: string): Promise<Privileges> {
  if (!isRoot()) return { mode: 'unprivileged', why: `privileges could not be dropped: cdi serve does not run as root, so the worker runs as uid ${process.getuid?.()} instead of ${user.uid}` };
  for (const [dir, fix] of [
    [dataDir, 'use a --data-dir every user can traverse to'],
    [productRoot, 'install cdi where every user can read it'],
    [path.dirname(process.execPath), 'install Node where every user can read it'],
  ] as const) {
    const blocked = await unreachableAncestor(dir, user);
    if (blocked) {
      return {
        mode: 'root-without-capabilities',
        why: `the worker runs as uid 0 with no capabilities instead of uid ${user.uid}: ${blocked} (mode ${modeOf(await fs.promises.stat(blocked))}) cannot be entered by uid ${user.uid}; ${fix}`,
      };
    }
  }
  return { mode: 'drop', user };
}

/** setpriv's arguments for these privileges (it also ties the worker's life to the agent's). */
export function setprivArgs(p: Privileges): string[] {
  const dropCaps = ['--inh-caps=-all', '--bounding-set=-all'];
  const common = ['--no-new-privs', '--pdeathsig', 'KILL', '--'];
  switch (p.mode) {
    case 'drop': {
      const groups = p.user.groups.length ? ['--groups', p.user.groups.join(',')] : ['--clear-groups'];
      return ['--reuid', String(p.user.uid), '--regid', String(p.user.gid), ...groups, ...dropCaps, ...common];
    }
    case 'root-without-capabilities':
      return ['--clear-groups', ...dropCaps, ...common];
    case 'unprivileged':
      return common;
  }
}

/** The group a worker's volumes belong to: fsGroup as the kubelet sets it, else the user's group. */
export function volumeGroup(user: WorkerUser): number {
  return user.groups[0] ?? user.gid;
}

/**
 * Makes what the worker writes its own (the kubelet's fsGroup ownership): the directories and
 * files named, recursively for directories, without following symlinks.
 */
export async function giveTo(user: WorkerUser, dirs: readonly string[], files: readonly string[]): Promise<void> {
  const gid = volumeGroup(user);
  for (const f of files) await fs.promises.lchown(f, user.uid, gid);
  for (const d of dirs) await chownTree(d, user.uid, gid);
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  const info = await fs.promises.lstat(dir);
  if (info.uid !== uid || info.gid !== gid) await fs.promises.lchown(dir, uid, gid);
  if (!info.isDirectory()) return;
  for (const entry of await fs.promises.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) await chownTree(p, uid, gid);
    else await fs.promises.lchown(p, uid, gid);
  }
}

/** The first directory on the way to `dir` that `user` may not search, if any. */
async function unreachableAncestor(dir: string, user: WorkerUser): Promise<string | undefined> {
  const parts = path.resolve(dir).split(path.sep).filter(Boolean);
  let current: string = path.sep;
  for (const part of ['', ...parts]) {
    current = path.join(current, part);
    const st = await fs.promises.stat(current).catch(() => undefined);
    if (!st) return undefined;
    const bit = st.uid === user.uid ? 0o100 : st.gid === user.gid || user.groups.includes(st.gid) ? 0o010 : 0o001;
    if (!(st.mode & bit)) return current;
  }
  return undefined;
}

function modeOf(st: fs.Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}
